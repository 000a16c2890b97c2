/**
 * Alerts to Slack incoming webhooks and Standard Webhooks receivers, through a durable on-disk
 * queue: {@linkcode AlertManager} is the entry point.
 *
 * @module
 */

export {
  type Alert,
  escapeSlack,
  isAlert,
  type Severity,
  severityOf,
  slackBody,
  webhookBody,
} from "./alert.ts";
export {
  AlertConfigError,
  AlertManager,
  AlertManagerClosedError,
  type AlertManagerOptions,
  type Endpoint,
  type EndpointStats,
  parseRetryAfter,
  webhookId,
} from "./delivery.ts";
export {
  AlertQueue,
  AlertQueueError,
  type AlertQueueOptions,
  type Delivery,
  JOURNAL_FILE,
  type Outcome,
} from "./queue.ts";
export {
  decodeSecret,
  signWebhook,
  type VerifyOptions,
  verifyWebhook,
  WebhookSecretError,
} from "./signing.ts";
