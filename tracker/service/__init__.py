"""The background service: scheduling, dispatch, the daily digest job, the instance lock,
status, systemd integration and logs."""
