"""SMS (and MMS) through Twilio; Twilio also carries WhatsApp (``provider: twilio``).
"""
