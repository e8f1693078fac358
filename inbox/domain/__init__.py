"""The domain: tables and enums, the records and serializers entities travel in, who may see
what, event names, errors and channel types. It imports nothing else of the project.
"""
