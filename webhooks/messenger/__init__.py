"""Facebook Messenger through Meta's Graph API.
"""
