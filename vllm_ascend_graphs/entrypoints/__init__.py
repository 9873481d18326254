"""What users call: the command line, the check command and the standalone capture API."""
