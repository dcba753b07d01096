// Semantic-convention attribute names sidetrace reads or sets, copied from
// @opentelemetry/semantic-conventions 1.45.0 (test/semconv.test.ts checks each
// against that package, stable or incubating entry point).
//
// Copied, not imported: the preload with tracing off loads no OpenTelemetry
// module at all (test/preload.test.ts), and the policies, the resource and
// the deploy code that use these names load in that mode too; the package's
// root entry point is 7 files. Its /incubating entry point, which holds most
// of these names, is one 850 kB module (about 100 ms to require on a 2-core
// machine with Node 20), and its README (1.45.0, "Unstable semconv") asks
// libraries to copy incubating names rather than import them at run time.
// Older names (http.target, db.statement, ...) are still set by
// instrumentations on the old conventions, so the policies read both.

// Stable.
export const ATTR_DB_QUERY_TEXT = 'db.query.text' as const;
export const ATTR_DEPLOYMENT_ENVIRONMENT_NAME = 'deployment.environment.name' as const;
export const ATTR_EXCEPTION_MESSAGE = 'exception.message' as const;
export const ATTR_EXCEPTION_TYPE = 'exception.type' as const;
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code' as const;
export const ATTR_SERVICE_NAME = 'service.name' as const;
export const ATTR_SERVICE_VERSION = 'service.version' as const;
export const ATTR_TELEMETRY_DISTRO_NAME = 'telemetry.distro.name' as const;
export const ATTR_TELEMETRY_DISTRO_VERSION = 'telemetry.distro.version' as const;
export const ATTR_TELEMETRY_SDK_LANGUAGE = 'telemetry.sdk.language' as const;
export const ATTR_URL_FULL = 'url.full' as const;
export const ATTR_URL_PATH = 'url.path' as const;
export const ATTR_URL_QUERY = 'url.query' as const;

// Incubating.
export const ATTR_CICD_PIPELINE_NAME = 'cicd.pipeline.name' as const;
export const ATTR_CICD_PIPELINE_RUN_ID = 'cicd.pipeline.run.id' as const;
export const ATTR_CICD_PIPELINE_RUN_URL_FULL = 'cicd.pipeline.run.url.full' as const;
export const ATTR_DEPLOYMENT_ID = 'deployment.id' as const;
export const ATTR_DEPLOYMENT_NAME = 'deployment.name' as const;
export const ATTR_DEPLOYMENT_STATUS = 'deployment.status' as const;
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count' as const;
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name' as const;
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id' as const;
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name' as const;
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type' as const;
export const ATTR_MESSAGING_SYSTEM = 'messaging.system' as const;
export const ATTR_PROCESS_COMMAND_ARGS = 'process.command_args' as const;
export const ATTR_PROCESS_COMMAND_LINE = 'process.command_line' as const;
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code' as const;
export const ATTR_VCS_REF_HEAD_REVISION = 'vcs.ref.head.revision' as const;
export const ATTR_VCS_REPOSITORY_URL_FULL = 'vcs.repository.url.full' as const;

// Deprecated in the incubating entry point, still set by instrumentations on the old conventions.
/** Replaced by deployment.environment.name. */
export const ATTR_DEPLOYMENT_ENVIRONMENT = 'deployment.environment' as const;
/** Replaced by db.query.text. */
export const ATTR_DB_STATEMENT = 'db.statement' as const;
/** Replaced by url.full. */
export const ATTR_HTTP_URL = 'http.url' as const;
/** Replaced by url.path and url.query. */
export const ATTR_HTTP_TARGET = 'http.target' as const;
/** Replaced by http.response.status_code. */
export const ATTR_HTTP_STATUS_CODE = 'http.status_code' as const;
/** No longer in the conventions; older messaging instrumentations set the broker URL (with credentials) here. */
export const ATTR_MESSAGING_URL = 'messaging.url' as const;
