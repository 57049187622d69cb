// The demo shop's products. A real console would load these from the shop's catalogue.

export const CATALOG = [
  { sku: "jacket-blue", title: "Denim jacket, washed blue", price: 19900, image: "/demo/img/jacket.svg", reminder: "热卖" },
  { sku: "sneaker-red", title: "Everyday sneakers, red sole", price: 29900, image: "/demo/img/sneakers.svg", reminder: "新品" },
  { sku: "lipstick-rose", title: "Velvet matte lipstick #12 rose", price: 8900, image: "/demo/img/lipstick.svg", reminder: "限量" },
  { sku: "tea-longjing", title: "West Lake Longjing tea, 250 g", price: 12800, image: "/demo/img/tea.svg" },
  { sku: "headphones-x", title: "Wireless noise-cancelling headphones", price: 59900, image: "/demo/img/headphones.svg", reminder: "直降" },
];
