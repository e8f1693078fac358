"""The REST API, its OpenAPI description, and files (uploads and /media).
"""
