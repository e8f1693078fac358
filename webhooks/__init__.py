"""The channels: one folder per kind (sms/, whatsapp/, messenger/, telegram/, email/), each
declaring itself in its __init__.py and holding its signature check, parsing and sending.
registry.py is the one list. Provider vocabulary stays here."""
