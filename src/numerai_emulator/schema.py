"""The GraphQL schema (SDL) of the emulated Numerai API subset, and name handling.

The schema is written in camelCase. Like Numerai's server (Absinthe with its camelCase
adapter), the emulator also accepts snake_case spellings of any field or argument —
``create_submission``, ``submission_upload_auth``, ``model_name``, ``public_id`` — and
answers under the name the client asked for: before validation every field whose name
is not canonical is rewritten to the canonical name with the client's spelling as its
alias.
"""

from __future__ import annotations

import dataclasses

from graphql import DocumentNode, NameNode, Visitor, build_schema, visit

SDL = """
scalar bool

enum RoundStatus { UPCOMING OPEN RESOLVING RESOLVED }

type Query {
  account: Account
  accountProfile(username: String!, tournament: Int): AccountProfile
  v3UserProfile(modelName: String, tournament: Int): UserProfile
  v2SignalsProfile(modelName: String, tournament: Int): UserProfile
  rounds(tournament: Int, number: Int, target: String, status: RoundStatus, limit: Int): [Round]
  listDatasets(round: Int, tournament: Int): [String]
  dataset(filename: String!, round: Int, tournament: Int): String
  submissionUploadAuth(filename: String!, tournament: Int, modelId: String): UploadAuth
  submissionUploadSignalsAuth(filename: String!, tournament: Int, modelId: String): UploadAuth
  submissionDownloadAuth(id: String): UploadAuth
  submissions(modelId: String): [Submission]
  model(modelId: String): Model
  submissionScores(modelId: ID!, displayName: String, version: String, day: Int,
    resolved: Boolean, tournament: Int, lastNRounds: Int,
    distinctOnRound: Boolean): [SubmissionScore]
  v2RoundModelPerformances(modelId: String!, tournament: Int): [RoundModelPerformance]
  pendingModelPayouts(tournament: Int): PendingPayouts
}

type Mutation {
  createSubmission(filename: String!, tournament: Int, modelId: String, triggerId: String,
    source: String, dataDatestamp: Int): Submission
  createSignalsSubmission(filename: String!, modelId: String, triggerId: String,
    source: String, dataDatestamp: Int): Submission
  setUserBio(value: String!, modelId: String): Boolean
  setUserLink(linkText: String, linkUrl: String!, modelId: String): Boolean
  v2ChangeStake(value: String!, type: String!, modelId: String,
    tournamentNumber: Int): StakeChange
  releaseStake(drain: bool, modelId: String, amount: String): StakeChange
}

type Account {
  id: String
  username: String
  email: String
  walletAddress: String
  availableNmr: String
  mfaEnabled: Boolean
  status: String
  insertedAt: String
  models: [Model]
  apiTokens: [ApiToken]
  walletTxns: [WalletTxn]
}

type ApiToken { name: String, publicId: String, scopes: [String] }

type WalletTxn {
  amount: String
  from: String
  to: String
  status: String
  time: String
  tournament: Int
  txHash: String
  type: String
}

type AccountProfile { username: String, models: [Model] }

type Model {
  id: String
  name: String
  displayName: String
  username: String
  tournament: Int
  bio: String
  linkText: String
  linkUrl: String
  startDate: String
  nmrStaked: String
  stakeValue: String
  submissions: [Submission]
  v2Stake: V2Stake
}

type V2Stake { status: String, txHash: String, value: String }

type UserProfile {
  id: String
  username: String
  displayName: String
  tournament: Int
  bio: String
  linkText: String
  linkUrl: String
  startDate: String
  nmrStaked: String
  stakeValue: String
  dailyModelPerformances: [DailyModelPerformance]
}

type DailyModelPerformance {
  date: String
  corrRep: Float
  corrRank: Int
  mmcRep: Float
  mmcRank: Int
  fncRep: Float
  fncRank: Int
  fncV3Rep: Float
  fncV3Rank: Int
  tcRep: Float
  tcRank: Int
  icRep: Float
  icRank: Int
  corr20dRep: Float
  corr20dRank: Int
  corr60Rep: Float
  corr60Rank: Int
  mmc20dRep: Float
  mmc20dRank: Int
}

type Round {
  id: String
  tournament: Int
  number: Int
  target: String
  status: String
  openTime: String
  closeTime: String
  closeStakingTime: String
  scoreTime: String
  resolveTime: String
  resolvedGeneral: Boolean
  resolvedStaking: Boolean
  payoutFactor: String
  stakeThreshold: String
  dataDatestamp: Int
  roundScoreConfigs: [RoundScoreConfig]
}

type RoundScoreConfig {
  id: String
  scoreConfigId: String
  roundNumberStart: Int
  roundNumberEnd: Int
  name: String
  version: String
  displayName: String
  totalScoreDays: Int
  returnsLagDays: Int
  dataDelayDays: Int
  universe: String
  isCanonScore: Boolean
  isPayout: Boolean
  scoringStart: String
  scoringEnd: String
  minMultiplier: Float
  maxMultiplier: Float
  defaultMultiplier: Float
  clipThreshold: Float
  stakeThreshold: String
  payoutFactor: String
}

type UploadAuth { filename: String, url: String }

type Submission {
  id: String
  filename: String
  insertedAt: String
  selected: Boolean
  tournament: Int
  modelId: String
  roundNumber: Int
  round: Round
  firstEffectiveDate: String
  sha256: String
  source: String
  triggerId: String
}

type SubmissionScore {
  roundId: String
  submissionId: String
  roundNumber: Int
  roundResolveTime: String
  roundScoreTime: String
  roundCloseStakingTime: String
  value: Float
  percentile: Float
  displayName: String
  version: String
  date: String
  day: Int
  resolveDate: String
  resolved: Boolean
}

type RoundModelPerformance {
  roundId: String
  roundNumber: Int
  roundOpenTime: String
  roundCloseTime: String
  roundScoreTime: String
  roundResolveTime: String
  roundResolved: Boolean
  roundTarget: String
  roundPayoutFactor: String
  atRisk: String
  submissionId: String
  payoutMultipliers: [PayoutMultiplier]
  submissionScores: [RoundSubmissionScore]
  intraRoundSubmissionScores: [RoundSubmissionScore]
}

type PayoutMultiplier {
  id: String
  scoreConfigId: String
  name: String
  version: String
  displayName: String
  multiplier: Float
}

type RoundSubmissionScore {
  date: String
  day: Int
  displayName: String
  value: Float
  percentile: Float
  payoutPending: String
  payoutSettled: String
}

type StakeChange {
  id: String
  dueDate: String
  requestedAmount: String
  status: String
  type: String
  drain: Boolean
}

type PendingPayouts { actual: [Payout], pending: [Payout] }

type Payout {
  roundId: String
  roundNumber: Int
  roundResolveTime: String
  modelId: String
  modelName: String
  modelDisplayName: String
  payoutNmr: String
  payoutValue: String
  currencySymbol: String
}
"""

SCHEMA = build_schema(SDL)


def camelize(name: str) -> str:
    """``create_submission`` → ``createSubmission``; names without ``_`` are unchanged."""
    if "_" not in name or name.startswith("_"):
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Canonicalise(Visitor):
    def leave_field(self, node, *_args):
        canonical = camelize(node.name.value)
        if canonical == node.name.value:
            return None
        alias = node.alias or NameNode(value=node.name.value)
        return dataclasses.replace(node, alias=alias, name=NameNode(value=canonical))

    def leave_argument(self, node, *_args):
        canonical = camelize(node.name.value)
        if canonical == node.name.value:
            return None
        return dataclasses.replace(node, name=NameNode(value=canonical))


def canonicalise(document: DocumentNode) -> DocumentNode:
    """Rewrite snake_case fields/arguments to the schema's camelCase, keeping the
    client's spelling as the response key."""
    return visit(document, _Canonicalise())
