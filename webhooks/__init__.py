"""One adapter per provider: verify, parse and send. Provider vocabulary stays here."""
