import { CloudWatchClient, GetMetricWidgetImageCommand } from '@aws-sdk/client-cloudwatch';
import { inflateSync } from 'node:zlib';
import { rolloutWidget, widgetPeriodSeconds } from '../../lambdas/core/gates/metric-widget';
import { FakeCloudWatch } from '../../local/fakes/cloudwatch';
import { PNG_SIGNATURE, Raster, crc32, readPng } from '../../local/png';
import { threePhasePlan } from '../support/plans';

/**
 * The picture of a rollout: the widget request (metrics, annotations, time range) built from the plan, and the
 * local CloudWatch answering GetMetricWidgetImage with a real PNG of the series and the phase changes.
 */

const plan = threePhasePlan({
  feature: 'ux-update',
  targets: ['orders-api', 'orders-worker:live'],
  phases: [
    { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: false } },
    { name: 'pm', roles: ['pm'], bake: 'PT1H', approval: { required: false }, gates: { p95Ms: { proceedBelow: 150, rollbackAbove: 200 } } },
  ],
});
const start = '2026-11-02T09:00:00.000Z';
const end = '2026-11-02T15:00:00.000Z';

describe('the rollout widget', () => {
  it('graphs each target\'s errors and p95 over the rollout, marks each phase start and the current phase\'s band', () => {
    const widget = rolloutWidget({ plan, stage: 'prod', start, end, currentPhaseIndex: 1, phases: [{ phase: 'admin', at: start }, { phase: 'pm', at: '2026-11-02T12:00:00.000Z' }] });
    expect(widget).toMatchObject({ title: 'ux-update on prod: phase pm', view: 'timeSeries', start, end, period: 60 });
    expect(widget.metrics).toEqual([
      ['AWS/Lambda', 'Errors', 'FunctionName', 'orders-api', { stat: 'Sum', label: 'orders-api errors', yAxis: 'left' }],
      ['AWS/Lambda', 'Duration', 'FunctionName', 'orders-api', { stat: 'p95', label: 'orders-api p95 ms', yAxis: 'right' }],
      ['AWS/Lambda', 'Errors', 'FunctionName', 'orders-worker', { stat: 'Sum', label: 'orders-worker errors', yAxis: 'left' }],
      ['AWS/Lambda', 'Duration', 'FunctionName', 'orders-worker', { stat: 'p95', label: 'orders-worker p95 ms', yAxis: 'right' }],
    ]);
    expect(widget.annotations.vertical.map((v) => [v.value, v.label])).toEqual([[start, 'admin'], ['2026-11-02T12:00:00.000Z', 'pm']]);
    expect(widget.annotations.horizontal.map((h) => [h.value, h.yAxis])).toEqual([[200, 'right'], [150, 'right']]);
  });

  it('keeps to about 360 points, in whole minutes', () => {
    expect(widgetPeriodSeconds(0, 3600_000)).toBe(60);
    expect(widgetPeriodSeconds(0, 7 * 86400_000)).toBe(1680);
  });
});

describe('GetMetricWidgetImage on the local CloudWatch', () => {
  const cloudwatch = new FakeCloudWatch();
  beforeAll(() => cloudwatch.install());
  afterAll(() => cloudwatch.restore());

  it('returns a valid PNG of the requested size that draws the series and the phase markers', async () => {
    const widget = rolloutWidget({ plan, stage: 'prod', start, end, currentPhaseIndex: 1, phases: [{ phase: 'pm', at: '2026-11-02T12:00:00.000Z' }] });
    const client = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const out = await client.send(new GetMetricWidgetImageCommand({ MetricWidget: JSON.stringify(widget), OutputFormat: 'png' }));
    const png = Buffer.from(out.MetricWidgetImage!);
    expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(readPng(png)).toEqual({ width: 800, height: 400, chunks: ['IHDR', 'IDAT', 'IEND'] });

    // Decode the scanlines: the phase marker at 12:00 is a dashed grey vertical in the middle of the plot.
    const idat = png.subarray(33 + 8, png.length - 12 - 4);
    const raw = inflateSync(idat);
    const pixel = (x: number, y: number): number[] => [...raw.subarray(y * (800 * 3 + 1) + 1 + x * 3, y * (800 * 3 + 1) + 1 + x * 3 + 3)];
    const markerX = Math.round(40 + 0.5 * (760 - 40));
    const column = Array.from({ length: 300 }, (_, i) => pixel(markerX, 30 + i));
    expect(column.filter((c) => c.join() === '127,127,127').length).toBeGreaterThan(50);
    // The default traffic is the same for both targets (errors 0, a steady p95): the second target's lines,
    // drawn last, lie over the first's; the rollback threshold is a red line.
    const all = new Set<string>();
    for (let y = 0; y < 400; y += 1) for (let x = 41; x < 760; x += 1) all.add(pixel(x, y).join());
    expect(all.has('44,160,44')).toBe(true);
    expect(all.has('148,103,189')).toBe(true);
    expect(all.has('214,39,40')).toBe(true);
    expect(all.has('31,119,180')).toBe(false);

    const call = cloudwatch.calls.at(-1)!;
    expect(call).toMatchObject({ command: 'GetMetricWidgetImage', outcome: 'ok' });
  });

  it('refuses a widget without metrics or with its range backwards, as the service does', async () => {
    const client = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    await expect(client.send(new GetMetricWidgetImageCommand({ MetricWidget: JSON.stringify({ metrics: [], start, end }) }))).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(client.send(new GetMetricWidgetImageCommand({ MetricWidget: JSON.stringify({ metrics: [['AWS/Lambda', 'Errors']], start: end, end: start }) }))).rejects.toMatchObject({ name: 'ValidationError' });
  });
});

describe('the PNG encoder', () => {
  it('computes PNG CRC-32 and refuses a file whose chunk was altered', () => {
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
    const png = new Raster(3, 2).toPng();
    expect(readPng(png)).toEqual({ width: 3, height: 2, chunks: ['IHDR', 'IDAT', 'IEND'] });
    png[20] ^= 0xff;
    expect(() => readPng(png)).toThrow('bad CRC');
  });
});
