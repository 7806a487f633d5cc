"""A folder's packing that dies part way: what the tests of a resumable pack (data/test_pack.py, data/test_listing.py)
share."""

from ganrun.data import folder


class Killed(BaseException):
    """The process died here."""


class DyingDecoder:
    """Decodes a folder in chunks of 4 images, counting each chunk's size in `decoded`, and dies (Killed) when chunk
    number `after` + 1 starts; after `revive()` it decodes on without dying, still counting."""

    def __init__(self, monkeypatch, after: int):
        self.decode, self.decoded, self.after = folder._decode_chunk, [], after
        monkeypatch.setattr(folder, "CHUNK", 4)
        monkeypatch.setattr(folder, "_decode_chunk", self)

    def __call__(self, paths, **kwargs):
        if self.after is not None and len(self.decoded) == self.after:
            raise Killed
        self.decoded.append(len(paths))
        return self.decode(paths, **kwargs)

    def revive(self) -> None:
        self.after = None
        self.decoded.clear()
