"""The web portal: server-rendered pages for people who do not write code."""
