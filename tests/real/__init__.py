"""Checks of our code and fakes against the real packages (torch-npu wheels, the installed xlite)."""
