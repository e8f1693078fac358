"""The server-rendered pages: the agent workspace and the admin pages.
"""
