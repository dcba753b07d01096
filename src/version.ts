// The distro's name and version, read once from sidetrace's own package.json,
// and where the package is installed. The code runs from dist/ (the bundle)
// or dist/lib/ (the unbundled build), so the package root is found, not assumed.
import fs from 'node:fs';
import path from 'node:path';

export const DISTRO_NAME = 'sidetrace';

function findPackageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 4 && !fs.existsSync(path.join(dir, 'package.json')); i++) dir = path.dirname(dir);
  return dir;
}

/** The directory holding sidetrace's package.json. */
export const PACKAGE_ROOT = findPackageRoot();
export const DISTRO_VERSION: string = require(path.join(PACKAGE_ROOT, 'package.json')).version;
