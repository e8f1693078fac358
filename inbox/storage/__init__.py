"""Storage: the group-commit writer, prepared statements, migrations, the event buses and
the media store. The only code that touches the database driver.
"""
