"""Team mode: several daemons and desktops on one shared PostgreSQL store.

Daemons lease accounts instead of owning the whole store (``leases``); desktops open as viewers
fed from the store (``viewer``, woken by ``listener``); who did what is kept in the store's
audit (``audit``); the database's roles decide who may write (``roles``).
"""
