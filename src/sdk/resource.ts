// The resource every span carries: who sent it (service name, version,
// environment), from where (host, os, process, container), and which distro.
// Cloud detectors make network calls at start-up, so they run only when named
// in OTEL_NODE_RESOURCE_DETECTORS.
import fs from 'node:fs';
import path from 'node:path';
import type { DetectedResource, Resource, ResourceDetector } from '@opentelemetry/resources';
import type { ResourceDetectorName, SidetraceConfig } from '../config';
import { DISTRO_NAME, DISTRO_VERSION } from '../version';
import {
  ATTR_DEPLOYMENT_ENVIRONMENT,
  ATTR_DEPLOYMENT_ENVIRONMENT_NAME,
  ATTR_PROCESS_COMMAND_ARGS,
  ATTR_PROCESS_COMMAND_LINE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
  ATTR_TELEMETRY_SDK_LANGUAGE,
} from '../tracing/semconv';

export interface AppPackage {
  name?: string;
  version?: string;
}

/** The nearest package.json above the app's entry script (the app's, not sidetrace's). */
export function findAppPackage(entry = process.argv[1]): AppPackage {
  let dir = entry ? path.dirname(path.resolve(entry)) : process.cwd();
  for (let i = 0; i < 20; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      return { name: typeof pkg.name === 'string' ? pkg.name : undefined, version: typeof pkg.version === 'string' ? pkg.version : undefined };
    } catch {
      // not here (or unreadable): keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return {};
}

export interface ServiceIdentity {
  name: string;
  version?: string;
  environment?: string;
}

/** service.name, service.version and deployment.environment.name, by the documented precedence. */
export function serviceIdentity(config: SidetraceConfig, app: AppPackage = findAppPackage()): ServiceIdentity {
  const attrs = config.resourceAttributes;
  return {
    name: config.serviceName ?? attrs[ATTR_SERVICE_NAME] ?? app.name ?? 'unknown_service:node',
    version: attrs[ATTR_SERVICE_VERSION] ?? config.deploy.version ?? app.version,
    environment: attrs[ATTR_DEPLOYMENT_ENVIRONMENT_NAME] ?? attrs[ATTR_DEPLOYMENT_ENVIRONMENT] ?? config.deploy.environment ?? config.nodeEnv,
  };
}

/** process.command_args can carry secrets (`--token=…`): keep everything else the process detector finds. */
function withoutCommandArgs(detector: ResourceDetector): ResourceDetector {
  return {
    detect(cfg) {
      const found: DetectedResource = detector.detect(cfg);
      const attributes = { ...(found.attributes ?? {}) };
      delete attributes[ATTR_PROCESS_COMMAND_ARGS];
      delete attributes[ATTR_PROCESS_COMMAND_LINE];
      return { ...found, attributes };
    },
  };
}

function detectorsFor(names: ResourceDetectorName[]): ResourceDetector[] {
  const res = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const out: ResourceDetector[] = [];
  for (const name of names) {
    switch (name) {
      case 'env':
        break; // OTEL_RESOURCE_ATTRIBUTES is parsed (and validated) by src/config/
      case 'host':
        out.push(res.hostDetector);
        break;
      case 'os':
        out.push(res.osDetector);
        break;
      case 'process':
        out.push(withoutCommandArgs(res.processDetector));
        break;
      case 'serviceinstance':
        out.push(res.serviceInstanceIdDetector);
        break;
      case 'container':
        out.push(require('@opentelemetry/resource-detector-container').containerDetector);
        break;
      case 'aws': {
        const aws = require('@opentelemetry/resource-detector-aws');
        out.push(aws.awsEc2Detector, aws.awsEcsDetector, aws.awsEksDetector, aws.awsBeanstalkDetector, aws.awsLambdaDetector);
        break;
      }
      case 'gcp':
        out.push(require('@opentelemetry/resource-detector-gcp').gcpDetector);
        break;
      case 'azure': {
        const az = require('@opentelemetry/resource-detector-azure');
        out.push(az.azureAppServiceDetector, az.azureFunctionsDetector, az.azureVmDetector, az.azureAksDetector, az.azureContainerAppsDetector);
        break;
      }
      case 'alibaba':
        out.push(require('@opentelemetry/resource-detector-alibaba-cloud').alibabaCloudEcsDetector);
        break;
    }
  }
  return out;
}

export function buildResource(config: SidetraceConfig, identity: ServiceIdentity): Resource {
  const res = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const detected = res.detectResources({ detectors: detectorsFor(config.resourceDetectors) });
  const ours: Record<string, string> = {
    ...(config.resourceDetectors.includes('env') ? config.resourceAttributes : {}),
    [ATTR_SERVICE_NAME]: identity.name,
    [ATTR_TELEMETRY_SDK_LANGUAGE]: 'nodejs',
    [ATTR_TELEMETRY_DISTRO_NAME]: DISTRO_NAME,
    [ATTR_TELEMETRY_DISTRO_VERSION]: DISTRO_VERSION,
  };
  if (identity.version) ours[ATTR_SERVICE_VERSION] = identity.version;
  if (identity.environment) ours[ATTR_DEPLOYMENT_ENVIRONMENT_NAME] = identity.environment;
  return res.defaultResource().merge(detected).merge(res.resourceFromAttributes(ours));
}
