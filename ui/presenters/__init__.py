"""One presenter per area of the window, each the only code that drives its pane's widgets.

The controller (``ui.controller``) owns the run (the runtime, the worker's results, the tasks);
it connects the window's intents to these presenters and hands each what it needs through a
``Context``. A presenter turns what happened into what its pane shows, so a change to how one
area behaves (issue 14's unread alerts, a first-run page) stays in that area's module.
"""
