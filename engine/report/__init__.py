"""Reporters: turn a finished run into text, JSON, SARIF, JUnit or annotations."""
