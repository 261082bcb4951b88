// Errors the SDK exposes. CloudApiError mirrors the real class: a cloud reply with a non-2xx
// status (the simulated cloud raises it for the failures it can be told to simulate).

export class CloudApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "CloudApiError";
    this.status = status;
  }
}
