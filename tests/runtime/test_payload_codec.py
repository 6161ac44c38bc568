from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload

from gdtmesh.runtime.codec import EncryptionCodec, new_key_spec, parse_keys


async def test_round_trip_hides_the_plaintext() -> None:
    codec = EncryptionCodec(parse_keys(new_key_spec("k1")))
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"password":"S3cret!"}')
    [sealed] = await codec.encode([original])
    assert b"S3cret!" not in sealed.SerializeToString()
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert await codec.decode([sealed]) == [original]


async def test_rotation_keeps_old_keys_readable() -> None:
    old_spec = new_key_spec("k1")
    old = EncryptionCodec(parse_keys(old_spec))
    rotated = EncryptionCodec(parse_keys(f"{new_key_spec('k2')},{old_spec}"))
    [sealed_by_old] = await old.encode([Payload(data=b"x")])
    [sealed_by_new] = await rotated.encode([Payload(data=b"y")])
    assert sealed_by_new.metadata["encryption-key-id"] == b"k2"
    assert (await rotated.decode([sealed_by_old]))[0].data == b"x"
    with pytest.raises(ValueError, match="unknown key id 'k2'"):
        await old.decode([sealed_by_new])


@pytest.mark.parametrize(
    "spec",
    ["", "nokey", "k1:not-base64!", "k1:c2hvcnQ=", ":AAAAAAAAAAAAAAAAAAAAAA=="],
)
def test_bad_key_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_keys(spec)
