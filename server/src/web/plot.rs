//! The visit page's small plot: the customer's recorded location, the check-in and the check-out,
//! drawn to scale in an SVG the server writes (no script, no map tiles: it works offline), with
//! the distances between them.

use fieldsync_core::domain::GeoPoint;

/// Width and height of the drawing, in SVG units, and the margin kept free around the points.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 220.0;
const MARGIN: f64 = 30.0;

/// One point of the plot, placed.
pub struct Dot {
    pub x: String,
    pub y: String,
    /// `customer`, `check-in` or `check-out`: its CSS class.
    pub class: &'static str,
}

/// A line from the customer to a check point, with its length.
pub struct Line {
    pub x1: String,
    pub y1: String,
    pub x2: String,
    pub y2: String,
    pub label: String,
    pub lx: String,
    pub ly: String,
}

pub struct Plot {
    pub width: f64,
    pub height: f64,
    pub dots: Vec<Dot>,
    pub lines: Vec<Line>,
    /// The scale bar's length in SVG units and what it measures.
    pub scale_px: String,
    pub scale_label: String,
}

fn metres_label(m: f64) -> String {
    super::format::distance(Some(m))
}

impl Plot {
    /// The plot of what is known; `None` without at least one check point.
    pub fn of(
        customer: Option<(f64, f64)>,
        check_in: Option<(f64, f64)>,
        check_out: Option<(f64, f64)>,
    ) -> Option<Plot> {
        let points: Vec<((f64, f64), &'static str)> =
            [(customer, "customer"), (check_in, "check-in"), (check_out, "check-out")]
                .into_iter()
                .filter_map(|(p, class)| Some((p?, class)))
                .filter(|((lat, lng), _)| lat.is_finite() && lng.is_finite())
                .collect();
        if (check_in.is_none() && check_out.is_none()) || points.is_empty() {
            return None;
        }
        // Metres east and north of the first point (equirectangular: exact enough over a village).
        let (lat0, lng0) = points[0].0;
        let k = lat0.to_radians().cos();
        let xy = |(lat, lng): (f64, f64)| ((lng - lng0) * 111_320.0 * k, (lat - lat0) * 110_540.0);
        let placed: Vec<(f64, f64)> = points.iter().map(|(p, _)| xy(*p)).collect();
        let (min_x, max_x) = placed.iter().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
        let (min_y, max_y) = placed.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
        // At least 100 m across, so points a few metres apart do not fill the plot.
        let span = (max_x - min_x).max(max_y - min_y).max(100.0);
        let scale = ((WIDTH - 2.0 * MARGIN) / span).min((HEIGHT - 2.0 * MARGIN) / span);
        let (cx, cy) = ((min_x + max_x) / 2.0, (min_y + max_y) / 2.0);
        let to_svg = |(x, y): (f64, f64)| (WIDTH / 2.0 + (x - cx) * scale, HEIGHT / 2.0 - (y - cy) * scale);
        let fmt = |v: f64| format!("{v:.1}");
        let dots = points
            .iter()
            .zip(&placed)
            .map(|((_, class), p)| {
                let (x, y) = to_svg(*p);
                Dot { x: fmt(x), y: fmt(y), class }
            })
            .collect();
        let mut lines = Vec::new();
        if let Some(c) = customer {
            let origin = GeoPoint { lat: c.0, lng: c.1, accuracy_m: 0.0 };
            for p in [check_in, check_out].into_iter().flatten() {
                let metres = origin.distance_m(&GeoPoint { lat: p.0, lng: p.1, accuracy_m: 0.0 });
                let (x1, y1) = to_svg(xy(c));
                let (x2, y2) = to_svg(xy(p));
                lines.push(Line {
                    x1: fmt(x1),
                    y1: fmt(y1),
                    x2: fmt(x2),
                    y2: fmt(y2),
                    label: metres_label(metres),
                    lx: fmt((x1 + x2) / 2.0 + 4.0),
                    ly: fmt((y1 + y2) / 2.0 - 4.0),
                });
            }
        }
        // A scale bar of a round length near a quarter of the width.
        let target = (WIDTH / 4.0) / scale;
        let bar = [10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6]
            .into_iter()
            .rfind(|&m| m <= target)
            .unwrap_or(10.0);
        Some(Plot {
            width: WIDTH,
            height: HEIGHT,
            dots,
            lines,
            scale_px: fmt(bar * scale),
            scale_label: metres_label(bar),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_fit_the_drawing_and_distances_are_labelled() {
        let home = (30.5928, 114.3055);
        let far = (30.6128, 114.3055);
        let plot = Plot::of(Some(home), Some(far), Some(home)).unwrap();
        assert_eq!(plot.dots.len(), 3);
        for d in &plot.dots {
            let (x, y): (f64, f64) = (d.x.parse().unwrap(), d.y.parse().unwrap());
            assert!((MARGIN - 0.1..=WIDTH - MARGIN + 0.1).contains(&x), "{x}");
            assert!((MARGIN - 0.1..=HEIGHT - MARGIN + 0.1).contains(&y), "{y}");
        }
        assert_eq!(plot.lines[0].label, "2.2 km");
        assert_eq!(plot.lines[1].label, "0 m");
        // North is up: the check-in, north of the customer, is drawn above it.
        let y = |class| plot.dots.iter().find(|d| d.class == class).unwrap().y.parse::<f64>().unwrap();
        assert!(y("check-in") < y("customer"));
    }

    #[test]
    fn without_a_check_point_there_is_nothing_to_draw() {
        assert!(Plot::of(Some((30.0, 114.0)), None, None).is_none());
        // Without the customer's location, the check points alone, no distances.
        let plot = Plot::of(None, Some((30.0, 114.0)), None).unwrap();
        assert_eq!((plot.dots.len(), plot.lines.len()), (1, 0));
    }
}
