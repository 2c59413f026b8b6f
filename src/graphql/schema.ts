// channeld's GraphQL schema. Every type, field, argument, enum value and
// nullability here matches prefix.dev's public schema (the contract in
// ../shared/reference/prefix-dev-schema-core.graphql; test/graphql checks it
// by introspection), so prefix.dev's clients and scripts work unchanged.
// Only what channeld implements is declared.
export const schema = /* GraphQL */ `
directive @oneOf on INPUT_OBJECT

scalar DateTime
scalar JSON

type ApiKeyResult {
  "The key itself: only returned once, when it is created."
  key: String
  name: String!
  description: String
  createdAt: DateTime!
  expiresAt: DateTime
  lastUsedAt: DateTime
  revokedAt: DateTime
  accessMode: ChannelAccessMode!
  channel: Channel
}

type BackgroundJob {
  id: String!
  jobType: BackgroundJobType!
  status: BackgroundJobStatus!
  payload: JSON!
  totalCount: Int!
  processedCount: Int!
  failedCount: Int!
  errorMessage: String
  results: JSON
  createdAt: DateTime!
  completedAt: DateTime
}

enum BackgroundJobStatus {
  PENDING
  IN_PROGRESS
  COMPLETED
  COMPLETED_WITH_ERRORS
  FAILED
}

enum BackgroundJobType {
  BATCH_DELETE_PACKAGES
  COPY_PACKAGES_FROM_URL
}

type Channel {
  name: String!
  channelPath: String!
  namespace: Owner!
  isPrimary: Boolean!
  isPublic: Boolean!
  description: String
  logo: String
  createdAt: DateTime!
  updatedAt: DateTime!
  "Where packages of this channel are downloaded from."
  baseUrl: String!
  owner: Owner
  mirror: ChannelMirror
  notices: [ChannelNotice!]!
  packages(filters: PackageFilter, orderBy: PackageOrderBy, limit: Int, page: Int): PackagePageResult!
  channelMembers: [ChannelMember!]!
  "The CI workflows trusted to publish here; empty unless you may manage the channel."
  oidcPublishers: [Publisher!]!
  "Bytes of all package files in the channel."
  size: Int!
  channelRelationBase: Channel
  channelRelationOverrides: Channel
  allowV3Uploads: Boolean!
}

enum ChannelAccessMode {
  ALL
  READ
  READ_WRITE
  READ_WRITE_DELETE
}

input ChannelFilter {
  or: [ChannelFilter!]
  and: [ChannelFilter!]
  name: StringFilter
  owner: StringFilter
  namespace: StringFilter
  isPublic: Boolean
  hasOwner: Boolean
  hasMirror: Boolean
}

enum ChannelManageAccess {
  ADMIN
  CHANNEL_ROLE
  NONE
}

type ChannelMember {
  username: String!
  channel: Channel!
  role: ChannelMemberRole!
  isOwner: Boolean!
}

enum ChannelMemberRole {
  OWNER
  CONTRIBUTOR
  VIEWER
  MEMBER @deprecated(reason: "Use VIEWER instead")
}

type ChannelMirror {
  url: String!
}

type ChannelNotice {
  id: String!
  message: String!
  level: ChannelNoticeLevel!
  createdAt: DateTime
  expiresAt: DateTime
}

enum ChannelNoticeLevel {
  INFO
  WARNING
  CRITICAL
}

input ChannelOrderBy @oneOf {
  byField: ChannelOrderByField
  bySimilarity: ChannelOrderBySimilarity
}

input ChannelOrderByField {
  direction: OrderDirection! = ASC
  field: ChannelOrderByFieldField!
}

enum ChannelOrderByFieldField {
  NAME
  BILLING_OWNER
  NAMESPACE
  SIZE
  CREATED_AT
  PACKAGE_COUNT
}

input ChannelOrderBySimilarity {
  direction: OrderDirection! = DESC
  field: ChannelOrderBySimilarityField!
  matches: String!
}

enum ChannelOrderBySimilarityField {
  NAME
}

type ChannelPageResult {
  page: [Channel!]!
  current: Int!
  pages: Int!
  totalCount: Int!
}

type ChannelResult {
  channel: Channel!
}

type GithubPublisher implements Publisher {
  id: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  repositoryName: String!
  repositoryOwner: String!
  workflowFilename: String!
  environment: String!
  accessMode: ChannelAccessMode!
}

type GitlabPublisher implements Publisher {
  id: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  namespace: String!
  project: String!
  workflowFilepath: String!
  environment: String!
  accessMode: ChannelAccessMode!
}

type Mutation {
  "Creates an API key for the current user; the key is in the answer and never again."
  createApiKey(name: String!, description: String, expiresAt: DateTime, accessMode: ChannelAccessMode, channelName: String): ApiKeyResult!
  revokeApiKey(name: String!): Boolean!
  deleteApiKey(name: String!): Boolean!
  createChannel(name: String!, description: String, isPublic: Boolean, logo: String, channelRelationBase: String, channelRelationOverrides: String, allowV3Uploads: Boolean): ChannelResult!
  updateChannel(name: String!, description: String, isPublic: Boolean, logo: String, channelRelationBase: String, channelRelationOverrides: String, allowV3Uploads: Boolean): ChannelResult!
  "Deletes the channel, its records and its files."
  deleteChannel(name: String!): ChannelResult!
  addChannelMember(userName: String!, channelName: String!, role: ChannelMemberRole!): ChannelMember!
  deleteChannelMember(userName: String!, channelName: String!): ChannelMember!
  "Trusts a GitHub Actions workflow to publish to the channel (trusted publishing); owners only."
  addGithubOidcPublisher(channelName: String!, repositoryOwner: String!, repositoryName: String!, workflowFilename: String!, environment: String, accessMode: ChannelAccessMode): GithubPublisher!
  "Trusts a GitLab CI pipeline to publish to the channel (trusted publishing); owners only."
  addGitlabOidcPublisher(channelName: String!, namespace: String!, project: String!, workflowFilepath: String!, environment: String, accessMode: ChannelAccessMode): GitlabPublisher!
  "Removes a publisher; tokens it minted stop working at once."
  deleteOidcPublisher(channelName: String!, id: String!): OidcPublisher!
  batchYankPackageVariants(channelName: String!, entries: [PackageVariantInput!]!, reason: String!, alsoHide: Boolean): Boolean!
  batchUnyankPackageVariants(channelName: String!, entries: [PackageVariantInput!]!, alsoUnhide: Boolean): Boolean!
  batchDeletePackageVariants(channelName: String!, entries: [PackageVariantInput!]!): Boolean!
}

type OidcPublisher {
  id: String!
  createdAt: DateTime!
  updatedAt: DateTime!
}

enum OrderDirection {
  ASC
  DESC
}

interface Owner {
  name: String!
}

type Package {
  channel: Channel!
  name: String!
  summary: String
  description: String
  lastCreatedDate: DateTime
  totalSize: Int!
  downloadCountVersions: [String!]
  "The highest version (conda ordering) with a variant that is not hidden."
  latestVersion: PackageVersion!
  similarityScore: Float
  variants(limit: Int, page: Int, version: String, platform: String, buildString: String, createdAtFrom: DateTime, createdAtTo: DateTime, includeHidden: Boolean, orderBy: PackageVariantOrderBy): PackageVariantPageResult!
  versions(limit: Int, page: Int): PackageVersionPageResult!
  platforms: [String!]!
  urls: [Url!]!
  monthlyVersions: [String!]!
  totalCount: Int
  latestVersionVerified: Boolean!
}

input PackageFilter {
  or: [PackageFilter!]
  and: [PackageFilter!]
  name: StringFilter
}

input PackageOrderBy @oneOf {
  byField: PackageOrderByField
  bySimilarity: PackageOrderBySimilarity
}

input PackageOrderByField {
  direction: OrderDirection! = ASC
  field: PackageOrderByFieldField!
}

enum PackageOrderByFieldField {
  NAME
  LAST_CREATED_DATE
  TOTAL_SIZE
}

input PackageOrderBySimilarity {
  direction: OrderDirection! = DESC
  field: PackageOrderBySimilarityField!
  matches: String!
}

enum PackageOrderBySimilarityField {
  NAME
}

type PackagePageResult {
  page: [Package!]!
  current: Int!
  pages: Int!
  totalCount: Int!
}

type PackageVariant {
  filename: String!
  buildString: String!
  buildNumber: Int!
  description: String
  summary: String
  license: String
  licenseFamily: String
  createdAt: DateTime
  updatedAt: DateTime
  version: String!
  platform: String!
  rawIndex: JSON!
  rawAbout: JSON
  rawRunExports: JSON
  size: Int
  md5: String
  sha256: String
  yankedReason: String
  hidden: Boolean!
  repoDataPatches: JSON
  attestationsUrl: String!
  urls: [Url!]!
  totalDownloads: Int
  isDownloadBlocked: Boolean!
  paths: [String!]
}

input PackageVariantInput {
  subdir: String!
  filename: String!
}

input PackageVariantOrderBy @oneOf {
  byField: PackageVariantOrderByField
}

input PackageVariantOrderByField {
  direction: OrderDirection! = ASC
  field: PackageVariantOrderByFieldField!
}

enum PackageVariantOrderByFieldField {
  BUILD_STRING
  CREATED_AT
  SIZE
}

type PackageVariantPageResult {
  page: [PackageVariant!]!
  current: Int!
  pages: Int!
  totalCount: Int!
}

type PackageVersion {
  version: String!
  platforms: [String!]!
  urls: [Url!]!
  totalCount: Int
}

type PackageVersionPageResult {
  page: [PackageVersion!]!
  current: Int!
  pages: Int!
  totalCount: Int!
}

interface Publisher {
  id: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  accessMode: ChannelAccessMode!
}

type Query {
  channels(filters: ChannelFilter, orderBy: ChannelOrderBy, limit: Int, page: Int): ChannelPageResult!
  channel(name: String!): Channel
  channelManageAccess(channelName: String!): ChannelManageAccess!
  backgroundJob(id: String!): BackgroundJob
  packages(filters: PackageFilter, orderBy: PackageOrderBy, limit: Int, page: Int): PackagePageResult!
  package(channelName: String!, name: String!): Package
  variant(channelName: String!, packageName: String!, platformName: String!, fileName: String!): PackageVariant
  "The user the request's API key belongs to; null without a valid key."
  viewer: User
  user(login: String!): User
  users(filters: UserFilter, orderBy: UserOrderBy, limit: Int, page: Int): UserPageResult!
  apiKeys: [ApiKeyResult!]!
}

input StringFilter {
  eq: String
  ne: String
  isIn: [String!]
  isNotIn: [String!]
  startsWith: String
  endsWith: String
  contains: String
}

type Url {
  url: String!
  kind: UrlKind!
  order: Int!
}

enum UrlKind {
  DEV
  DOC
  HOME
  SOURCE
  FEEDSTOCK
}

type User implements Owner {
  name: String!
  login: String!
  channels(filters: ChannelFilter, orderBy: ChannelOrderBy, roles: [ChannelMemberRole!], limit: Int, page: Int): ChannelPageResult!
}

input UserFilter {
  or: [UserFilter!]
  and: [UserFilter!]
  login: StringFilter
  isAdmin: Boolean
}

input UserOrderBy @oneOf {
  byField: UserOrderByField
  bySimilarity: UserOrderBySimilarity
}

input UserOrderByField {
  direction: OrderDirection! = ASC
  field: UserOrderByFieldField!
}

enum UserOrderByFieldField {
  LOGIN
  IS_ADMIN
}

input UserOrderBySimilarity {
  direction: OrderDirection! = DESC
  field: UserOrderBySimilarityField!
  matches: String!
}

enum UserOrderBySimilarityField {
  LOGIN
}

type UserPageResult {
  page: [User!]!
  current: Int!
  pages: Int!
  totalCount: Int!
}
`;
