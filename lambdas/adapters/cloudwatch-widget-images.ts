import { CloudWatchClient, GetMetricWidgetImageCommand } from '@aws-sdk/client-cloudwatch';
import type { MetricWidgetImages } from '../core/gates/daily-report';
import type { MetricWidget } from '../core/gates/metric-widget';

/**
 * Draws metric widgets with CloudWatch itself: GetMetricWidgetImage takes the widget's JSON and returns the PNG
 * (CloudWatch API reference, GetMetricWidgetImage; `OutputFormat: 'png'` returns the bytes in `MetricWidgetImage`).
 */
export class CloudWatchWidgetImages implements MetricWidgetImages {
  constructor(private readonly cloudwatch: CloudWatchClient = new CloudWatchClient({})) {}

  async render(widget: MetricWidget): Promise<Uint8Array> {
    const out = await this.cloudwatch.send(new GetMetricWidgetImageCommand({ MetricWidget: JSON.stringify(widget), OutputFormat: 'png' }));
    if (!out.MetricWidgetImage || out.MetricWidgetImage.length === 0) throw new Error('CloudWatch GetMetricWidgetImage returned no image');
    return out.MetricWidgetImage;
  }
}
