"""Who you are and what you may see: users, sign-in and its throttle, visibility and grants,
the audit log."""
