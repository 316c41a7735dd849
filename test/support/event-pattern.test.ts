import { matchesEventPattern, UnsupportedPatternError } from './event-pattern';

const event = {
  source: 'aws.lambda',
  'detail-type': 'AWS API Call via CloudTrail',
  detail: {
    eventName: 'UpdateFunctionConfiguration20150331v2',
    count: 3,
    tags: ['blue', 'green'],
    empty: null,
    userIdentity: { type: 'AssumedRole', sessionContext: { sessionIssuer: { arn: 'arn:aws:iam::123456789012:role/deployer' } } },
  },
};

describe('the local EventBridge pattern matcher', () => {
  it.each([
    ['an exact value', { source: ['aws.lambda'] }, true],
    ['one of several exact values', { source: ['aws.s3', 'aws.lambda'] }, true],
    ['an exact value that differs', { source: ['aws.s3'] }, false],
    ['exact values are case-sensitive', { source: ['AWS.lambda'] }, false],
    ['a number', { detail: { count: [3] } }, true],
    ['a number given as a string is another value', { detail: { count: ['3'] } }, false],
    ['null matches a null value', { detail: { empty: [null] } }, true],
    ['null does not match an absent field', { detail: { absent: [null] } }, false],
    ['an array in the event: any element', { detail: { tags: ['green'] } }, true],
    ['an array in the event: no element', { detail: { tags: ['red'] } }, false],
    ['a prefix', { detail: { eventName: [{ prefix: 'UpdateFunctionConfiguration' }] } }, true],
    ['a prefix that is not one', { detail: { eventName: [{ prefix: 'UpdateFunctionCode' }] } }, false],
    ['one of several prefixes', { detail: { eventName: [{ prefix: 'PublishVersion' }, { prefix: 'UpdateFunction' }] } }, true],
    ['a field the pattern names and the event lacks', { detail: { errorCode: ['AccessDenied'] } }, false],
    ['anything-but a value it is not', { detail: { userIdentity: { type: [{ 'anything-but': 'IAMUser' }] } } }, true],
    ['anything-but the value it is', { detail: { userIdentity: { type: [{ 'anything-but': 'AssumedRole' }] } } }, false],
    ['anything-but a list holding it', { detail: { userIdentity: { type: [{ 'anything-but': ['Root', 'AssumedRole'] }] } } }, false],
    ['anything-but a prefix', { detail: { eventName: [{ 'anything-but': { prefix: 'Get' } }] } }, true],
    ['anything-but does not match an absent field', { detail: { userIdentity: { invokedBy: [{ 'anything-but': 'x' }] } } }, false],
    ['exists: true on a present leaf', { detail: { userIdentity: { type: [{ exists: true }] } } }, true],
    ['exists: true on an absent leaf', { detail: { userIdentity: { invokedBy: [{ exists: true }] } } }, false],
    ['exists: false on an absent leaf', { detail: { userIdentity: { invokedBy: [{ exists: false }] } } }, true],
    ['exists: false on a present leaf', { detail: { userIdentity: { type: [{ exists: false }] } } }, false],
    ['exists: false when a parent object is absent', { detail: { nothing: { here: [{ exists: false }] } } }, true],
    ['exists: true does not match an object (only leaves)', { detail: { userIdentity: [{ exists: true }] } }, false],
    ['$or: one alternative matches', { detail: { $or: [{ eventName: ['x'] }, { count: [3] }] } }, true],
    ['$or: none matches', { detail: { $or: [{ eventName: ['x'] }, { count: [4] }] } }, false],
    ['$or with the other fields: all must hold', { source: ['aws.s3'], detail: { $or: [{ count: [3] }, { count: [4] }] } }, false],
    ['every field must match', { source: ['aws.lambda'], 'detail-type': ['Object Created'] }, false],
  ])('%s', (_name, pattern, expected) => {
    expect(matchesEventPattern(pattern, event)).toBe(expected);
  });

  it('refuses what it does not implement instead of guessing', () => {
    expect(() => matchesEventPattern({ detail: { count: [{ numeric: ['>', 1] }] } }, event)).toThrow(UnsupportedPatternError);
    expect(() => matchesEventPattern({ detail: { tags: [{ 'anything-but': 'red' }] } }, event)).toThrow(/array value/);
    expect(() => matchesEventPattern({ source: 'aws.lambda' }, event)).toThrow(/array or an object/);
    expect(() => matchesEventPattern({ $or: [{ source: ['aws.lambda'] }] }, event)).toThrow(/at least two/);
  });
});
