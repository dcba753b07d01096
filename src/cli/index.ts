#!/usr/bin/env node
// The `sidetrace` command: a small dispatcher. Each subcommand is loaded only
// when asked for, so `--version` and `--help` load nothing else.

const USAGE = `Usage: sidetrace <command> [arguments]

Commands:
  deploy [options] -- <command...>   record a deploy as a trace (sidetrace deploy --help)
  deploy step <name> -- <command...> record a step of the current deploy
  doctor                             check the tracing setup
  traces [options]                   recent traces from Jaeger, newest first (sidetrace traces --help)
  trace <trace-id> [options]         one trace as a waterfall
  migration <name | run-id>          a migration run's state from its spans
  deploys [options]                  recent deploys and rollbacks
  --version                          print the version
  --help                             print this help
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case '--version':
    case '-v': {
      const { DISTRO_VERSION } = require('../version') as typeof import('../version');
      process.stdout.write(`${DISTRO_VERSION}\n`);
      return 0;
    }
    case 'deploy': {
      const { deployMain } = require('../deploy/command') as typeof import('../deploy/command');
      const { readDeployEnv } = require('../config/deploy') as typeof import('../config/deploy');
      return deployMain(rest, readDeployEnv());
    }
    case 'doctor': {
      const { main: doctorMain } = require('./doctor') as typeof import('./doctor');
      return doctorMain(rest);
    }
    case 'traces': {
      const { tracesMain } = require('./traces/list') as typeof import('./traces/list');
      return tracesMain(rest);
    }
    case 'trace': {
      const { traceMain } = require('./traces/trace') as typeof import('./traces/trace');
      return traceMain(rest);
    }
    case 'migration': {
      const { migrationMain } = require('./traces/migration') as typeof import('./traces/migration');
      return migrationMain(rest);
    }
    case 'deploys': {
      const { deploysMain } = require('./traces/deploys') as typeof import('./traces/deploys');
      return deploysMain(rest);
    }
    default:
      process.stderr.write(`sidetrace: unknown command ${JSON.stringify(command)} (see sidetrace --help)\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`sidetrace: ${(err as Error)?.stack ?? err}\n`);
    process.exit(70); // EX_SOFTWARE: a bug in sidetrace, not in the command
  },
);
