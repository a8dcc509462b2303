#!/usr/bin/env python3
"""Writes the static site that bench/static.sh serves with ferry and nginx.

    python3 bench/static_site.py OUT_DIR [JS_BYTES]

OUT_DIR gets index.html (~1 KB, referencing the JS and CSS assets), assets/app-<hash>.js
(JS_BYTES of minified-looking JavaScript: short identifiers, repeated framework idioms,
string literals, so it compresses like a real bundle, not like random bytes),
assets/app-<hash>.css and favicon.ico. Deterministic (fixed seed). Prints the JS asset's
path relative to OUT_DIR.
"""
import hashlib
import os
import random
import struct
import sys

out = sys.argv[1]
js_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
rng = random.Random(7)

WORDS = ("user session token route render state props children effect memo ref context "
         "dispatch action payload store query cache fetch request response headers status "
         "error message value items index key node parent element style class event target "
         "handler listener timeout interval promise resolve reject then catch finally "
         "settings dashboard profile account billing invoice project team member role").split()
IDENT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$"


def ident():
    return "".join(rng.choice(IDENT) for _ in range(rng.choice((1, 1, 2, 2, 3))))


def word():
    w = rng.choice(WORDS)
    return w if rng.random() < 0.6 else w + rng.choice(WORDS).capitalize()


def statement():
    a, b, c, d = ident(), ident(), ident(), ident()
    k = rng.randrange(10)
    if k == 0:
        return f'function {a}({b},{c}){{return {b}&&{b}.{word()}?{b}.{word()}({c}):{c}}}'
    if k == 1:
        return f'const {a}={b}.useState({rng.choice(["null", "!1", "[]", "{}", "0"])})'
    if k == 2:
        return f'{a}.prototype.{word()}=function({b}){{this.{word()}={b};return this}}'
    if k == 3:
        return f'var {a}={{{word()}:"{word()}",{word()}:{rng.randrange(1000)},{word()}:!{rng.randrange(2)}}}'
    if k == 4:
        return f'{b}.createElement("{rng.choice(["div", "span", "button", "input", "a", "li"])}",{{className:"{word()}-{word()}",onClick:{c}}},{d})'
    if k == 5:
        return f'if({a}.{word()}==null)throw new Error("{word()} {word()} is required")'
    if k == 6:
        return f'{a}=await fetch("/api/v1/{word()}/"+{b},{{method:"{rng.choice(["GET", "POST", "PUT"])}",headers:{{"content-type":"application/json"}}}}).then(({c})=>{c}.json())'
    if k == 7:
        return f'for(let {a}=0;{a}<{b}.length;{a}++){c}[{b}[{a}].{word()}]={b}[{a}]'
    if k == 8:
        return f'export{{{a} as {word()},{b} as {word()}}}'
    return f'{a}.addEventListener("{rng.choice(["click", "keydown", "resize", "scroll"])}",function({b}){{{c}({b}.target.{word()})}})'


parts, size = ['"use strict";'], 13
while size < js_bytes:
    s = statement() + ";"
    parts.append(s)
    size += len(s)
js = "".join(parts)[:js_bytes].encode()
css = "".join(
    f".{word()}-{word()}{{display:{rng.choice(['flex', 'grid', 'block'])};padding:{rng.randrange(24)}px;"
    f"color:#{rng.randrange(0x1000000):06x};border-radius:{rng.randrange(12)}px}}"
    for _ in range(200)).encode()


def hashed(data):
    return hashlib.sha256(data).hexdigest()[:8]


js_name, css_name = f"assets/app-{hashed(js)}.js", f"assets/app-{hashed(css)}.css"
html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry static bench</title>
<meta name="description" content="A single-page app served from an immutable release: one HTML shell, one hashed JS bundle, one hashed stylesheet.">
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/{css_name}">
<script type="module" crossorigin src="/{js_name}"></script>
</head>
<body>
<noscript>This app needs JavaScript.</noscript>
<div id="root"></div>
</body>
</html>
"""
html += "<!-- " + "padding to about one kilobyte, like a real app shell with its meta tags. " * (
    max(0, 1024 - len(html) - 8) // 74 + 1) + "-->\n"

# A 16x16 32-bit ICO: header, one directory entry, BITMAPINFOHEADER, pixels, AND mask.
pixels = b"".join(struct.pack("<BBBB", 0x40, 0x80 + x * 4, 0xC0, 0xFF) for _ in range(16) for x in range(16))
bmp = struct.pack("<IiiHHIIiiII", 40, 16, 32, 1, 32, 0, len(pixels), 0, 0, 0, 0) + pixels + b"\0" * 64
ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(bmp), 22) + bmp

os.makedirs(os.path.join(out, "assets"), exist_ok=True)
for rel, data in (("index.html", html.encode()), (js_name, js), (css_name, css), ("favicon.ico", ico)):
    with open(os.path.join(out, rel), "wb") as f:
        f.write(data)
print(js_name)
