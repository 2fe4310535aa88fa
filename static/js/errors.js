// Errors the page shows as they are.

/** A request the phone cannot do now; its message is for the agent (or the CRM). */
export class PhoneError extends Error {}
