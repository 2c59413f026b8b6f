// Builds real conda packages for tests and benchmarks. The packages are made
// by conda-package-handling (Debian's python3-conda-package-handling, the
// library behind `cph` and conda itself), not by our own code, so the server
// reads files it did not write. One /usr/bin/python3 process builds the whole
// list: starting Python per package would cost more than building it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface PackageSpec {
  name: string;
  version: string;
  build: string;
  buildNumber?: number;
  subdir: 'noarch' | string;
  format: 'conda' | 'tar.bz2';
  depends?: string[];
  /** Size of a random (incompressible) payload file; default a few hundred bytes of text. */
  payloadBytes?: number;
  /**
   * zstd level for .conda. Default 3: cph's own default (22) takes ~0.4 s per
   * component even for a tiny package, which would dominate a 200-package run.
   */
  zstdLevel?: number;
  /** Fields set in info/index.json over the defaults (hostile tests: wrong types). */
  indexOverrides?: Record<string, unknown>;
  /** info/index.json written as this text instead (hostile tests: not what JSON tools would write). */
  indexRaw?: string;
}

export interface MadePackage {
  spec: PackageSpec;
  file: string;
  filename: string;
  subdir: string;
  sha256: string;
  sizeBytes: number;
}

export function packageFilename(spec: PackageSpec): string {
  return `${spec.name}-${spec.version}-${spec.build}.${spec.format}`;
}

// Reads the specs as JSON on stdin and writes each package into out_folder.
const PYTHON = String.raw`
import json, os, sys, tempfile, shutil
from conda_package_handling import api

out_folder, specs = sys.argv[1], json.load(sys.stdin)
for s in specs:
    prefix = tempfile.mkdtemp(prefix="cph-prefix-")
    try:
        os.makedirs(os.path.join(prefix, "info"))
        index = {
            "name": s["name"], "version": s["version"], "build": s["build"],
            "build_number": s.get("buildNumber", 0), "depends": s.get("depends", []),
            "subdir": s["subdir"], "timestamp": 1700000000000, "license": "BSD-3-Clause",
        }
        if s["subdir"] == "noarch":
            index["noarch"] = "generic"
        index.update(s.get("indexOverrides", {}))
        with open(os.path.join(prefix, "info", "index.json"), "w") as f:
            if "indexRaw" in s:
                f.write(s["indexRaw"])
            else:
                json.dump(index, f, indent=2, sort_keys=True)
        payload = os.path.join("share", s["name"], "payload.bin")
        os.makedirs(os.path.join(prefix, os.path.dirname(payload)))
        with open(os.path.join(prefix, payload), "wb") as f:
            n = s.get("payloadBytes")
            if n:
                while n > 0:
                    step = min(n, 1 << 20)
                    f.write(os.urandom(step))
                    n -= step
            else:
                f.write(("payload of %s %s\n" % (s["name"], s["version"])).encode() * 8)
        with open(os.path.join(prefix, "info", "files"), "w") as f:
            f.write(payload + "\n")
        files = ["info/index.json", "info/files", payload]
        out_fn = "%s-%s-%s.%s" % (s["name"], s["version"], s["build"], s["format"])
        kw = {}
        if s["format"] == "conda":
            level = s.get("zstdLevel", 3)
            kw["compression_tuple"] = (".tar.zst", "zstd", "zstd:compression-level=%d" % level)
        api.create(prefix, files, out_fn, out_folder, **kw)
    finally:
        shutil.rmtree(prefix)
`;

/** Builds every spec into dir with one Python process; returns the files with their sha256. */
export async function makePackages(dir: string, specs: PackageSpec[]): Promise<MadePackage[]> {
  fs.mkdirSync(dir, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const child = execFile('/usr/bin/python3', ['-c', PYTHON, dir], { maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`conda-package-handling failed: ${err.message}\n${stderr}`));
      else resolve();
    });
    child.stdin!.end(JSON.stringify(specs));
  });
  return specs.map((spec) => {
    const filename = packageFilename(spec);
    const file = path.join(dir, filename);
    const bytes = fs.readFileSync(file);
    return {
      spec, file, filename, subdir: spec.subdir,
      sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length,
    };
  });
}
