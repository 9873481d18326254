"""The selector: walks the chain of registered backends and records why each was or was not chosen."""
