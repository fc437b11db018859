"""The chapter's "image processing" row with Pillow, in every model: each PNG is decoded,
blurred (Gaussian), resized to half size (bilinear, the Rust ``Triangle`` filter), turned to
8-bit gray, encoded as PNG and written atomically into ``--out`` under its own file name.

    decision-table gen images --count 8 --width 640 --height 480 --out data/images-py   # inputs (Rust tool)
    python -m chapter images data/images-py --out /tmp/img-py --model threading [--workers N]
        [--sigma S] [--keep-going] [--json]

What it shows: Pillow does its decoding, filtering, resizing and encoding in C and releases the
GIL while it does, so here threads use both cores (the chapter's "image processing ->
multiprocessing" assumes pure-Python work, which the matrix scenario's ``pure`` engine shows);
processes pay to start and to send every result back through a pipe.

The digest is SHA-256 over each output's SHA-256 in input order, a failed item counting as the
bytes ``failed`` (the Rust ``images::summarise``). Pillow and the Rust ``image`` crate blur and
round differently, so the bytes differ from Rust's by design (``python -m chapter compare
images`` measures by how much); the gray conversion uses the same Rec. 709 weights as the
``image`` crate (Pillow's own ``convert("L")`` uses Rec. 601), so what differs is rounding and
the blur's approximation, not the formula. The PNG encoder's settings are fixed (zlib level 1,
Pillow's default filters), so every Python model writes the same bytes.

Bad inputs fail as in Rust: a corrupt or truncated PNG, a missing file, a file that is not a
regular file (a FIFO is refused without blocking), a picture over the decompression-bomb limit
(:data:`MAX_PIXELS`), or an output directory that holds the inputs. The first bad input stops
the run with an error naming it (exit 1); with ``--keep-going`` the others are processed and
the failures counted. Nothing half-written ever appears under a final name
(:mod:`chapter.files`).
"""

import io
import os
import warnings

from chapter import pool
from chapter.console import say
from chapter.contract import ChapterError, Run
from chapter.digest import Digest, sha256
from chapter.files import read_input, write_atomically

#: Pictures larger than this are refused before they are decoded: 64 megapixels (an 8K frame
#: is 33), which a few workers can hold at once in a few GiB. Pillow's own default warns at
#: 89 megapixels and only refuses at twice that.
MAX_PIXELS = 64_000_000
#: Input files larger than this are refused before they are read.
MAX_INPUT_BYTES = 512 << 20
#: Rec. 709 luma, as the ``image`` crate's ``grayscale`` (0.2126 R + 0.7152 G + 0.0722 B).
REC709 = (0.2126, 0.7152, 0.0722, 0.0)
_HINT = " (make inputs with `decision-table gen images`)"


_PIL = None


def _pillow():
    """Pillow, set up once per process (the warnings filter is process-wide)."""
    global _PIL
    if _PIL is None:
        from PIL import Image, ImageFilter

        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        # Pillow only warns between the limit and twice the limit; here the limit is a limit.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        _PIL = (Image, ImageFilter)
    return _PIL


def list_inputs(inputs):
    """The files to process, in input order: files as given, directories expanded to their
    .png files sorted by name. A named file that does not exist stays in the list and fails as
    an item, naming itself."""
    files = []
    for item in inputs:
        if not os.path.isdir(item):
            files.append(item)
            continue
        try:
            names = os.listdir(item)
        except OSError as e:
            raise ChapterError(f"cannot list the directory {item}: {e.strerror}") from None
        pngs = sorted(
            os.path.join(item, name)
            for name in names
            if name.lower().endswith(".png") and os.path.isfile(os.path.join(item, name))
        )
        if not pngs:
            raise ChapterError(
                f"{item}: no .png files in this directory (make some with `decision-table gen images --out {item}`)"
            )
        files.extend(pngs)
    seen = {}
    for f in files:
        name = os.path.basename(f)
        if not name:
            raise ChapterError(f"{f} is not a file name")
        if name in seen:
            raise ChapterError(
                f"{seen[name]} and {f} have the same file name: their outputs would overwrite each other"
            )
        seen[name] = f
    return files


def prepare_out(out, inputs):
    """Create the output directory, refusing one that holds any of the inputs."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ChapterError(f"cannot create --out {out}: {e.strerror}") from None
    if not os.path.isdir(out):
        raise ChapterError(f"--out {out} is not a directory")
    out_real = os.path.realpath(out)
    for f in inputs:
        if os.path.realpath(os.path.dirname(f) or ".") == out_real:
            raise ChapterError(
                f"--out {out} holds the input {f}: the outputs would overwrite the inputs; choose another directory"
            )


def transform(name, png: bytes, sigma: float) -> bytes:
    """The CPU-bound part: decode, blur, halve, gray, encode. ``name`` labels errors."""
    Image, ImageFilter = _pillow()
    try:
        img = Image.open(io.BytesIO(png), formats=["PNG"])
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ChapterError(f"{name}: refused: {e}") from None
    except Image.UnidentifiedImageError:
        raise ChapterError(f"{name}: not a valid PNG (no PNG signature)") from None
    except Exception as e:  # truncated data (OSError), bad chunks, bad CRCs...
        raise ChapterError(f"{name}: not a valid PNG ({e})") from None
    # The filters want 8-bit RGB or gray; alpha is kept through the blur and dropped at the end
    # (the output is plain gray whatever the input held, as in Rust).
    if img.mode not in ("L", "RGB", "RGBA"):
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    w, h = img.size
    blurred = img.filter(ImageFilter.GaussianBlur(radius=sigma))  # Pillow's radius is sigma
    half = blurred.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BILINEAR)
    if half.mode == "L":
        gray = half
    else:
        gray = half.convert("RGB").convert("L", matrix=REC709)
    out = io.BytesIO()
    gray.save(out, format="PNG", compress_level=1, optimize=False)
    return out.getvalue()


def process_file(task) -> bytes:
    """One work item, the same in every model: read, transform, write; returns the output's
    SHA-256."""
    path, out, sigma = task
    png = read_input(path, MAX_INPUT_BYTES, _HINT)
    result = transform(path, png, sigma)
    write_atomically(os.path.join(out, os.path.basename(path)), result)
    return sha256(result)


def reference_digest(inputs, sigma) -> str:
    """The digest a correct run must print, on one thread and writing nothing."""
    d = Digest()
    for path in inputs:
        d.update(sha256(transform(path, read_input(path, MAX_INPUT_BYTES, _HINT), sigma)))
    return d.finish()


def run(args) -> dict:
    inputs = list_inputs(args.inputs)
    prepare_out(args.out, inputs)
    _pillow()
    model = args.model
    variant = args.variant or pool.DEFAULT_VARIANT[model]
    run_ = Run.start("images", model, variant, 1 if model == "serial" else args.workers, len(inputs))
    tasks = [(path, args.out, args.sigma) for path in inputs]
    mapped = pool.map_in_order(
        tasks,
        args.workers,
        process_file,
        model,
        keep_going=args.keep_going,
        variant=variant,
        die_on_task=args.die_on_task,
        stall_timeout_s=args.stall_timeout_s,
        start_method=args.start_method,
    )
    shas, failed = mapped.conclude()
    d = Digest()
    for sha in shas:
        d.update(sha if sha is not None else b"failed")
    say(f"{len(inputs) - failed} of {len(inputs)} images processed, {failed} failed")
    if model == "multiprocessing" or variant == "process_executor":
        run_.extra("parent_pid", os.getpid()).extra("pids", mapped.pids)
    run_.extras.update(mapped.extras)
    return run_.finish(d.finish(), failed)
