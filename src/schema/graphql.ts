/**
 * The public GraphQL schema (contract §2). Field names and types are fixed by the contract;
 * adding fields is fine, changing them is not.
 */
export const typeDefs = /* GraphQL */ `
  "ISO-8601 string, UTC, millisecond precision."
  scalar DateTime
  scalar JSON

  enum Tier {
    DAILY
    INTRADAY
    COMBO
  }
  "From confidence: ≥ 0.9 CRITICAL, ≥ 0.8 HIGH, ≥ 0.7 MEDIUM, else LOW."
  enum Priority {
    CRITICAL
    HIGH
    MEDIUM
    LOW
  }

  type PatternDetection {
    "Increasing integer (as a string); also the replay cursor of patternAlert."
    id: ID!
    "The publisher's event_id, or the SHA-256 of the raw message: the dedup key."
    eventId: String!
    symbol: String!
    pattern: String!
    confidence: Float!
    tier: Tier!
    priority: Priority!
    timeframe: String
    category: String
    price: Float
    detectedAt: DateTime!
    receivedAt: DateTime!
    expiresAt: DateTime
    source: String!
    "Every field of the message without a column of its own, untouched."
    metadata: JSON
  }

  input PatternFilter {
    "Any of; case-insensitive."
    symbols: [String!]
    "Any of; case-insensitive."
    patterns: [String!]
    "Any of."
    tiers: [Tier!]
    minConfidence: Float
    minPriority: Priority
    "detectedAt >= since"
    since: DateTime
    "detectedAt < until"
    until: DateTime
  }

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }
  type PatternEdge {
    cursor: String!
    node: PatternDetection!
  }
  type PatternConnection {
    edges: [PatternEdge!]!
    nodes: [PatternDetection!]!
    pageInfo: PageInfo!
  }

  type PatternDefinition {
    name: String!
    category: String
    description: String
    enabled: Boolean!
    timeframes: [String!]!
    detections: Int!
    firstSeenAt: DateTime
    lastSeenAt: DateTime
  }

  type BacktestProgress {
    jobId: ID!
    progress: Float!
    status: String!
    currentSymbol: String
    processedSymbols: Int
    estimatedCompletion: DateTime
    at: DateTime!
  }
  type BacktestResult {
    jobId: ID!
    status: String!
    results: JSON
    processingTimeSeconds: Float
    at: DateTime!
  }
  type BacktestJob {
    jobId: ID!
    progress: BacktestProgress
    result: BacktestResult
  }

  type PublisherHealth {
    status: String!
    source: String
    metrics: JSON
    at: DateTime!
  }
  type PipelineHealth {
    "ok / degraded / down"
    status: String!
    queueWaiting: Int!
    queueActive: Int!
    queueFailed: Int!
    "Jobs that failed with a fault (connection, timeout, deadlock) and wait to be retried."
    queueRetrying: Int!
    rejectedTotal: Int!
    lastEventAt: DateTime
    "Active subscriptions on the API process that answers."
    subscribers: Int!
    "Why status is not ok (empty when it is)."
    reasons: [String!]!
  }
  type SystemHealth {
    publisher: PublisherHealth
    pipeline: PipelineHealth!
  }

  type RejectedEvent {
    id: ID!
    channel: String!
    reason: String!
    payload: String!
    receivedAt: DateTime!
  }

  type Query {
    "Newest first. first: 1..500; after: a cursor from pageInfo.endCursor."
    patterns(filter: PatternFilter, first: Int = 50, after: String): PatternConnection!
    dailyPatterns(filter: PatternFilter, first: Int = 50, after: String): PatternConnection!
    intradayPatterns(filter: PatternFilter, first: Int = 50, after: String): PatternConnection!
    comboPatterns(filter: PatternFilter, first: Int = 50, after: String): PatternConnection!
    pattern(id: ID!): PatternDetection
    patternDefinitions: [PatternDefinition!]!
    backtestJob(jobId: ID!): BacktestJob
    systemHealth: SystemHealth!
    "Newest first. first: 1..500. ADMIN."
    rejectedEvents(first: Int = 50): [RejectedEvent!]!
    "Who the credential belongs to."
    me: User!
    "Every user. ADMIN."
    users: [User!]!
    "Your own tokens; an ADMIN may ask for any user's, or (without userId) everyone's."
    tokens(userId: ID): [ApiToken!]!
    "Your watchlists, oldest first."
    watchlists: [Watchlist!]!
    "One of yours; another user's is NOT_FOUND."
    watchlist(id: ID!): Watchlist
    inbox: Inbox!
    "Your notification rules, oldest first."
    notificationRules: [NotificationRule!]!
    "Your deliveries, newest first; of one rule (another user's is NOT_FOUND) and in one status if given. first: 1..500."
    notificationDeliveries(ruleId: ID, status: DeliveryStatus, first: Int = 50): [NotificationDelivery!]!
  }

  enum Role {
    READER
    ADMIN
  }
  type User {
    id: ID!
    name: String!
    role: Role!
    createdAt: DateTime!
  }
  type ApiToken {
    id: ID!
    name: String!
    user: User!
    createdAt: DateTime!
    expiresAt: DateTime
    lastUsedAt: DateTime
    revokedAt: DateTime
  }
  type WatchlistFilter {
    symbols: [String!]
    patterns: [String!]
    tiers: [Tier!]
    minConfidence: Float
    minPriority: Priority
  }
  "A user's saved filter (contract §6). At most 50 per user, 500 symbols each."
  type Watchlist {
    id: ID!
    name: String!
    filter: WatchlistFilter!
    createdAt: DateTime!
    updatedAt: DateTime!
  }
  "A detection that matched at least one of your watchlists (contract §6)."
  type Alert {
    detection: PatternDetection!
    "Your watchlists it matched, oldest first."
    watchlists: [Watchlist!]!
    "False only for an alert myAlerts delivers live; true for its replay and in the inbox."
    replayed: Boolean!
  }
  type AlertEdge {
    cursor: String!
    node: Alert!
  }
  type AlertConnection {
    edges: [AlertEdge!]!
    nodes: [Alert!]!
    pageInfo: PageInfo!
  }
  "What the server keeps for you: the last alert you acknowledged, shared by all your devices."
  type Inbox {
    "Matching detections above lastAcknowledgedId: exact up to 10000, then 10000."
    unread: Int!
    "Null until you acknowledge something (or while nothing was ever stored)."
    lastAcknowledgedId: ID
    "Every alert (read or not), newest first. first: 1..500; after: a cursor from pageInfo.endCursor."
    alerts(first: Int = 50, after: String): AlertConnection!
  }
  "since/until have no place in a watchlist: BAD_USER_INPUT."
  input WatchlistInput {
    name: String!
    filter: PatternFilter!
  }

  enum NotificationChannel {
    WEBHOOK
    EMAIL
  }
  enum DeliveryStatus {
    PENDING
    DELIVERED
    RETRYING
    FAILED
    SUPPRESSED
  }
  "ALERT: one matching detection; TEST: testNotificationRule; DIGEST: what the hourly cap held back."
  enum DeliveryKind {
    ALERT
    TEST
    DIGEST
  }
  "Detections matching the watchlist at or above minPriority, stored after the rule was created, sent to a webhook or an address (contract §7)."
  type NotificationRule {
    id: ID!
    watchlist: Watchlist!
    channel: NotificationChannel!
    "WEBHOOK: the https:// URL called; EMAIL: the address written to."
    target: String!
    minPriority: Priority!
    "1..1000. Past it within an hour, matches are SUPPRESSED and go out as one digest when that hour ends."
    maxPerHour: Int!
    enabled: Boolean!
    createdAt: DateTime!
    "Why the system disabled it (a receiver answered 410 Gone); null otherwise."
    disabledReason: String
  }
  "At most 20 rules per user and 5 per watchlist. target: an https:// URL to a public address (2,048 characters at most), or an email address."
  input NotificationRuleInput {
    watchlistId: ID!
    channel: NotificationChannel!
    target: String!
    minPriority: Priority = CRITICAL
    maxPerHour: Int = 60
  }
  type NewNotificationRule {
    rule: NotificationRule!
    "WEBHOOK: the signing secret (whsec_…), shown this once; null for EMAIL."
    secret: String
  }
  type NotificationDelivery {
    "The webhook-id header of the call (the same on every attempt)."
    id: ID!
    rule: NotificationRule!
    "ALERT: the detection; null for TEST and DIGEST."
    detection: PatternDetection
    status: DeliveryStatus!
    attempts: Int!
    lastError: String
    createdAt: DateTime!
    deliveredAt: DateTime
    kind: DeliveryKind!
  }

  "The secret is shown here once; only its hash is kept."
  type NewToken {
    token: String!
    apiToken: ApiToken!
  }

  type Mutation {
    "ADMIN. name: 1..64 of a-z 0-9 . _ -"
    createUser(name: String!, role: Role = READER): User!
    "ADMIN."
    setUserRole(userId: ID!, role: Role!): User!
    "ADMIN. Revokes the user's tokens; their open WebSockets close within seconds."
    deleteUser(userId: ID!): Boolean!
    "For yourself; userId (another user) is for ADMINs. expiresInSeconds: 60 .. 10 years; absent: never."
    createToken(name: String!, userId: ID, expiresInSeconds: Int): NewToken!
    "Your own tokens; any for an ADMIN. Open WebSockets using it close within seconds."
    revokeToken(tokenId: ID!): ApiToken!
    createWatchlist(input: WatchlistInput!): Watchlist!
    updateWatchlist(id: ID!, input: WatchlistInput!): Watchlist!
    deleteWatchlist(id: ID!): Boolean!
    "Moves your inbox position to upTo; never back, never past the newest stored detection."
    acknowledgeAlerts(upTo: ID!): Inbox!
    "For one of your watchlists (another user's is NOT_FOUND). WEBHOOK: returns the signing secret, once."
    createNotificationRule(input: NotificationRuleInput!): NewNotificationRule!
    "Enabling clears disabledReason."
    setNotificationRuleEnabled(id: ID!, enabled: Boolean!): NotificationRule!
    "Its deliveries go with it."
    deleteNotificationRule(id: ID!): Boolean!
    "Queues a sample (type pattern.test, detection null) to send now, even for a disabled rule; at most 10 per rule per hour."
    testNotificationRule(id: ID!): NotificationDelivery!
  }

  type Subscription {
    """
    Live detections matching the filter. With after, first every stored detection with
    id > after that matches (oldest first), then live ones: no gap, no duplicate.
    """
    patternAlert(filter: PatternFilter, after: ID): PatternDetection!
    backtestProgress(jobId: ID): BacktestProgress!
    backtestResult(jobId: ID): BacktestResult!
    "The current state at once, then again on every publisher health report."
    systemHealth: SystemHealth!
    """
    Detections matching any of your watchlists, each once, with the watchlists it matched: first
    every one above your inbox position (oldest first, the newest INBOX_REPLAY_MAX of them,
    replayed: true), then live ones, with no gap and no duplicate. Watchlist changes apply to
    the live part within a second.
    """
    myAlerts: Alert!
  }
`;
