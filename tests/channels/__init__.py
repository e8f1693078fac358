"""Channels that exist only for tests: each is a folder like webhooks/<kind>/, served by
one ``webhooks.registry.register()`` call, with no edit to inbox/ or ui/."""
