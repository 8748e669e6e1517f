"""OAuth2 authorization server (Authlib): machine clients, bearer tokens bound to one tenant or context."""
