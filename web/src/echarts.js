// The ECharts the dashboard uses: the core, line and bar charts, the canvas renderer and the
// components the panels need, tree-shaken into one ES module (static/vendor/echarts.js).
import * as echarts from "echarts/core";
import { LineChart, BarChart } from "echarts/charts";
import { GridComponent, TooltipComponent, LegendComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export const { init, getInstanceByDom, graphic } = echarts;
export default echarts;
