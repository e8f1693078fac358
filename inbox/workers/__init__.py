"""Background loops: delivery, and the timers (snooze wake-up, pruning).
"""
