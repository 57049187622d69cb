from array import array

def send_all(
    fds: array[int], data: bytes | bytearray | memoryview, /
) -> list[tuple[int, int]] | None: ...
