"""Domain features. Each talks to the Engine and the protocol only, never to Starlette or Redis."""
