"""The verification engine: syntax, DNS, SMTP and the verdict. Knows no database or web."""
