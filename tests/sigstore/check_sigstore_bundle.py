#!/usr/bin/env python3
"""Checks stap-pack signature documents against the Sigstore protobuf specs.

Usage: check_sigstore_bundle.py FILE.sigstore.json [FILE ...]

Each file is parsed as a Sigstore `Bundle` with PyPI's
`sigstore-protobuf-specs` (0.5.x: betterproto messages that are pydantic dataclasses), so a
document another Sigstore client cannot read fails here rather than in the
field. Beyond parsing, the script checks what stap-pack promises: bundle
media type v0.3, a key-id hint of 16 hex digits, a SHA2_256 message digest
of 32 bytes and a 64-byte (Ed25519) signature. Re-encoding the parsed
message must give back the input's JSON value, which catches fields the
specification does not know (the parser silently drops those).

Exit status: 0 when every document passes, 1 when any fails, 2 on usage
errors or when the package is missing (the message names it).
"""

import json
import re
import sys

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
HINT = re.compile(r"[0-9a-f]{16}")


def check(path, Bundle, HashAlgorithm):
    """Returns a list of problems with one document (empty when it passes)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        value = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return [f"cannot read JSON: {e}"]
    try:
        # `from_dict` as a class method: the message classes are pydantic
        # dataclasses whose one-of validation refuses an empty `Bundle()`,
        # so the instance method `Bundle().from_json` cannot be used.
        bundle = Bundle.from_dict(value)
    except Exception as e:  # the library raises several exception kinds
        return [f"not a Sigstore Bundle message: {type(e).__name__}: {e}"]

    problems = []
    if bundle.media_type != MEDIA_TYPE:
        problems.append(f"media type is {bundle.media_type!r}, expected {MEDIA_TYPE!r}")
    material = bundle.verification_material
    public_key = material.public_key if material is not None else None
    if public_key is None:
        problems.append("verificationMaterial.publicKey is missing")
    elif not HINT.fullmatch(public_key.hint or ""):
        problems.append(f"publicKey.hint {public_key.hint!r} is not 16 lower-case hex digits")
    signature = bundle.message_signature
    if signature is None:
        problems.append("messageSignature is missing")
    else:
        digest = signature.message_digest
        if digest is None or digest.algorithm != HashAlgorithm.SHA2_256:
            algorithm = None if digest is None else digest.algorithm
            problems.append(f"messageDigest.algorithm is {algorithm!r}, expected SHA2_256")
        elif len(digest.digest) != 32:
            problems.append(f"messageDigest.digest is {len(digest.digest)} bytes, expected 32")
        if len(signature.signature) != 64:
            problems.append(f"signature is {len(signature.signature)} bytes, expected 64 (Ed25519)")
    reencoded = bundle.to_dict()
    if reencoded != value:
        problems.append(
            "document has content the Sigstore specification does not define: "
            f"parsed back as {json.dumps(reencoded, sort_keys=True)}"
        )
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle
        from sigstore_protobuf_specs.dev.sigstore.common.v1 import HashAlgorithm
    except ImportError as e:
        print(
            f"error: the Python package sigstore-protobuf-specs is not installed ({e}); "
            "install it with `pip install sigstore-protobuf-specs`",
            file=sys.stderr,
        )
        return 2

    failed = 0
    for path in argv[1:]:
        problems = check(path, Bundle, HashAlgorithm)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        failed += bool(problems)
    if failed:
        print(f"sigstore-protobuf-specs: {failed} of {len(argv) - 1} documents failed", file=sys.stderr)
        return 1
    print(f"sigstore-protobuf-specs: {len(argv) - 1} documents parsed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
