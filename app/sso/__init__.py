"""Single sign-on for members' browsers under ``/sso``."""
