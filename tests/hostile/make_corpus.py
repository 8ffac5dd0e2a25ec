#!/usr/bin/env python3
"""Writes the hostile-input regression corpus (tests/hostile/<reader>/<case>.<ext> + <case>.expect, the substring the
error must contain). Plain Python, no third-party modules; re-run after adding a case. HostileCorpusTests reads them."""
import io, json, os, struct, zipfile, zlib

root = os.path.dirname(os.path.abspath(__file__))

def put(reader, name, data, expect):
    d = os.path.join(root, reader)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode('utf-8'))
    with open(os.path.join(d, name.rsplit('.', 1)[0] + '.expect'), 'w') as f:
        f.write(expect + '\n')

def st(header, data=0):
    h = header if isinstance(header, bytes) else header.encode('utf-8')
    return struct.pack('<Q', len(h)) + h + bytes(data)

# safetensors
put('safetensors', 'huge-shape.safetensors', st('{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,8]}}', 8), 'need 4000000000000')
put('safetensors', 'overflow-shape.safetensors', st('{"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,8]}}', 8), 'more elements than any file can hold')
put('safetensors', 'key-not-utf8.safetensors', st(b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), 'not valid UTF-8')
put('safetensors', 'overlap.safetensors', st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12), 'overlap')
put('safetensors', 'duplicate-key.safetensors', st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), "lists 'a' twice")
put('safetensors', 'shape-string.safetensors', st('{"a":{"dtype":"F32","shape":["x"],"data_offsets":[0,4]}}', 4), 'not an integer')
put('safetensors', 'header-array.safetensors', st('[1,2]', 0), 'not a JSON object')
put('safetensors', 'header-length-huge.safetensors', struct.pack('<Q', 0xFFFFFFFFFFFF) + b'{}', 'header length')
put('safetensors', 'bad-dtype.safetensors', st('{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}', 4), "dtype 'Q7'")

# detector.safetensors with a damaged config
def detector(config):
    return st(json.dumps({"__metadata__": {"format": "deft-detector-1", "config": config}}))
put('detector', 'config-not-json.safetensors', detector('{"model": "x", "classes": ['), 'not valid JSON for a detector')
put('detector', 'config-null-classes.safetensors', detector(json.dumps({"model": "random:tiny", "classes": None, "contextLength": 16})), 'damaged')
put('detector', 'config-wrong-type.safetensors', detector('{"model": 5}'), 'not valid JSON for a detector')

# pickles inside torch.save zips
def torchzip(pkl, extra=()):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl)
        z.writestr('archive/version', '3\n')
        for n, d in extra:
            z.writestr('archive/' + n, d)
    return b.getvalue()
put('pt', 'binbytes-huge-length.pt', torchzip(b'\x80\x02B\xf0\xff\xff\xff' + b'xx.'), 'runs past the end')
put('pt', 'binunicode8-huge.pt', torchzip(b'\x80\x04\x8d' + struct.pack('<Q', 2**63 + 5) + b'.'), 'runs past the end')
put('pt', 'long4-huge.pt', torchzip(b'\x80\x02\x8b' + struct.pack('<I', 0xFFFFFFF0) + b'.'), 'runs past the end')
put('pt', 'os-system.pt', torchzip(b'\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.'), "refusing to load: the pickle references 'os.system'")
put('pt', 'no-stop.pt', torchzip(b'\x80\x02}'), 'without a STOP')
put('pt', 'code-unknown-class.pt', torchzip(b'\x80\x02c__torch__.nope\nUnknown\n)\x81}b.', [('code/__torch__/nope.py', 'class Other(Module):\n  pass\n'), ('constants.pkl', b'\x80\x02).')]), 'holds no tensors')
put('pt', 'tensor-past-storage.pt', torchzip(
    b'\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00J\x00\x00\x00\x01\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.',
    [('data/0', bytes(8))]), 'reaches element')
full = torchzip(b'\x80\x02}X\x01\x00\x00\x00wN' * 40 + b's.')
put('pt', 'truncated-zip.pt', full[: len(full) // 2], 'damaged or truncated')

# Hugging Face config.json (checked against the tiny fixture's weights by the test)
base = {"model_type": "clip", "projection_dim": 64,
        "vision_config": {"hidden_size": 128, "intermediate_size": 512, "num_attention_heads": 2, "num_hidden_layers": 2, "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05},
        "text_config": {"hidden_size": 128, "intermediate_size": 512, "num_attention_heads": 2, "num_hidden_layers": 2, "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}}
def cfg(name, expect, **changes):
    c = json.loads(json.dumps(base))
    for path, value in changes.items():
        tower, _, key = path.partition('__')
        if value is ... and key: del c[tower][key]
        elif value is ...: del c[tower]
        elif key: c[tower][key] = value
        else: c[tower] = value
    put('hf-config', name + '.json', json.dumps(c, indent=1), expect)
put('hf-config', 'array.json', '[]', 'not an object')
put('hf-config', 'not-utf8.json', b'{"model_type": "\xff"}', 'not UTF-8')
cfg('eps-string', 'vision_config.layer_norm_eps is the string "x", not a number', vision_config__layer_norm_eps='x')
cfg('zero-heads', 'vision_config.num_attention_heads = 0', vision_config__num_attention_heads=0)
cfg('no-vision-config', 'has no vision_config', vision_config=...)
cfg('layers-contradict', 'vision_config.num_hidden_layers = 3, but the weights', vision_config__num_hidden_layers=3)
cfg('width-contradict', 'text_config.hidden_size = 256, but the weights', text_config__hidden_size=256)
cfg('patch-zero', 'vision_config.patch_size = 0', vision_config__patch_size=0)
cfg('heads-not-dividing', 'vision_config.num_attention_heads = 12 does not divide vision_config.hidden_size = 128', vision_config__num_attention_heads=12)

# label files (for a 10-sample, 3-class data set)
put('labels', 'semicolon.csv', 'index;label\n' + ''.join(f'{i};{i % 3}\n' for i in range(10)), "looks ';'-separated")
put('labels', 'not-utf8.csv', b'index,label\n0,1\n1,\xff\n', 'line 3: not valid UTF-8')

# manifests (paths need not exist: read with missing files tolerated)
put('manifest', 'duplicate.csv', 'path,label\na.png,cat\nb.png,dog\na.png,dog\n', 'listed twice (lines 2 and 4)')
put('manifest', 'nul-label.csv', 'path,label\na.png,c\x00t\n', 'control character U+0000')
put('manifest', 'not-utf8.csv', b'path,label\na.png,caf\xe9\n', 'line 2: not valid UTF-8')

# images
def png(w, h):
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(bytes(1024))) + chunk(b'IEND', b'')
put('image', 'png-23170-square.png', png(23170, 23170), 'too large (23170×23170')
put('image', 'png-20000-square.png', png(20000, 20000), 'too large (20000×20000')
put('image', 'png-wide.png', png(2**31 - 1, 1), 'png-wide.png')
