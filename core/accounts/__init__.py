"""Who you are and what you may see: users, sign-in and its throttle, the acting user (Actor)
and the signed-in Viewer, visibility and grants, the audit log."""
