"""mailsift: self-hostable email list verification."""

__version__ = "0.1.0"
