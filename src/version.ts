// The distro's name and version, read once from sidetrace's own package.json.
import path from 'node:path';

export const DISTRO_NAME = 'sidetrace';
export const DISTRO_VERSION: string = require(path.join(__dirname, '..', 'package.json')).version;
