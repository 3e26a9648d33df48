package geom

import (
	"errors"
	"math"
)

// ErrTooFewPoints is returned for polygons with fewer than three vertices.
var ErrTooFewPoints = errors.New("geom: a polygon needs at least three points")

// Polygon is a closed ring of vertices in order.
type Polygon struct {
	Points []Point
}

// NewPolygon checks that there are enough points.
func NewPolygon(points ...Point) (Polygon, error) {
	if len(points) < 3 {
		return Polygon{}, ErrTooFewPoints
	}
	return Polygon{Points: points}, nil
}

// Area is the signed area: positive when the vertices run counter-clockwise.
func (poly Polygon) Area() float64 {
	sum := 0.0
	n := len(poly.Points)
	for i := 0; i < n; i++ {
		sum += Cross(poly.Points[i], poly.Points[(i+1)%n])
	}
	return sum / 2
}

// Perimeter is the length of the ring.
func (poly Polygon) Perimeter() float64 {
	total := 0.0
	n := len(poly.Points)
	for i := 0; i < n; i++ {
		total += poly.Points[i].Dist(poly.Points[(i+1)%n])
	}
	return total
}

// Centroid is the centre of mass of the polygon's area.
func (poly Polygon) Centroid() Point {
	area := poly.Area()
	if area == 0 {
		return poly.Points[0]
	}
	var cx, cy float64
	n := len(poly.Points)
	for i := 0; i < n; i++ {
		a, b := poly.Points[i], poly.Points[(i+1)%n]
		f := Cross(a, b)
		cx += (a.X + b.X) * f
		cy += (a.Y + b.Y) * f
	}
	return Point{cx / (6 * area), cy / (6 * area)}
}

// Contains reports whether p is inside, by the even-odd rule.
func (poly Polygon) Contains(p Point) bool {
	inside := false
	n := len(poly.Points)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := poly.Points[i], poly.Points[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			inside = !inside
		}
	}
	return inside
}

// Bounds returns the lower-left and upper-right corners of the bounding box.
func (poly Polygon) Bounds() (Point, Point) {
	lo := Point{math.Inf(1), math.Inf(1)}
	hi := Point{math.Inf(-1), math.Inf(-1)}
	for _, p := range poly.Points {
		lo = Point{math.Min(lo.X, p.X), math.Min(lo.Y, p.Y)}
		hi = Point{math.Max(hi.X, p.X), math.Max(hi.Y, p.Y)}
	}
	return lo, hi
}
