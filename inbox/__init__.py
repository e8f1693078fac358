"""inbox: the domain (contacts, conversations, messages), storage, events and delivery."""
